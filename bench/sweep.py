"""What fanning runs out buys on this machine: 8 short runs one by one, on 2 local workers, and on Ray.

    python bench/sweep.py                      # about 8 minutes on 2 cores
    python bench/sweep.py --repeats 5 --runs 8 --timesteps 16384   # shorter runs: the fixed costs weigh more

Side by side in one process, ``--repeats`` times in turn (load on a shared machine hits every variant of a
repeat alike), each a whole command timed from start to exit:

- ``train x N``: N ``simrl train`` commands one after another, what a user does by hand;
- ``sweep w1``: ``simrl sweep --workers 1`` (the same N runs in one sweep, one worker process);
- ``sweep w2``: ``simrl sweep --workers 2``;
- ``ray``: ``simrl sweep --ray ADDRESS`` on a local Ray cluster of 2 CPUs started once before the repeats
  (``ray start --head`` on 127.0.0.1, its files in a temporary folder); its start-up is timed on its own.

The runs: PPO on simrl/Pendulum-v0 with the preset's 16 envs, ``--timesteps`` steps each, seeds 0..N-1.
Printed and written to ``--json`` (default bench/results/sweep.json): each variant's median wall time
with its range, the speed-up of 2 workers over ``train x N`` and over ``sweep w1`` (the median of each
repeat's ratio), Ray's overhead per run after start-up (``(ray - sweep w2) / N``, median of the repeats'),
and the cluster's start-up time. The goal (issue 15): a speed-up of at least 1.8 with 2 workers, Ray's
overhead under 1 s a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIMRL = [sys.executable, "-m", "simrl.cli"]


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def start_ray(env: dict[str, str], port: int) -> tuple[str, float]:
    """A local Ray head with 2 CPUs on 127.0.0.1; its address and the seconds ``ray start`` took."""
    ray = str(Path(sys.executable).with_name("ray"))
    started = time.perf_counter()
    cmd = [ray, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"]
    subprocess.run([*cmd, "--disable-usage-stats"], check=True, capture_output=True, env=env)
    return f"127.0.0.1:{port}", time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--timesteps", type=int, default=65_536)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-ray", action="store_true", help="leave Ray out")
    ap.add_argument("--ray-port", type=int, default=6390, help="the local Ray head's port")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "sweep.json")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="simrl-bench-sweep-"))
    ray_temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths
    env = {**os.environ, "RAY_TMPDIR": str(ray_temp), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    common = ["ppo", "simrl/Pendulum-v0", "--timesteps", str(args.timesteps), "--eval-episodes", "2"]
    seeds = f"0-{args.runs - 1}"
    address, ray_start_s = (None, None) if args.no_ray else start_ray(env, args.ray_port)
    times: dict[str, list[float]] = {"train x N": [], "sweep w1": [], "sweep w2": []}
    if address:
        times["ray"] = []
    try:
        for rep in range(args.repeats):
            base = work / f"r{rep}"
            times["train x N"].append(
                sum(
                    timed([*SIMRL, "train", *common, "--seed", str(s), "--out", str(base / "train")])
                    for s in range(args.runs)
                )
            )
            times["sweep w1"].append(
                timed([*SIMRL, "sweep", *common, "--seeds", seeds, "--workers", "1", "--out", str(base / "w1")])
            )
            times["sweep w2"].append(
                timed([*SIMRL, "sweep", *common, "--seeds", seeds, "--workers", "2", "--out", str(base / "w2")])
            )
            if address:
                times["ray"].append(
                    timed(
                        [*SIMRL, "sweep", *common, "--seeds", seeds, "--ray", address, "--out", str(base / "ray")], env
                    )
                )
            print(f"repeat {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    finally:
        if address:
            subprocess.run(
                [str(Path(sys.executable).with_name("ray")), "stop", "--force"], env=env, capture_output=True
            )
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(ray_temp, ignore_errors=True)

    def ratio(a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(times[a], times[b], strict=True)]

    result = {
        "runs": args.runs,
        "timesteps": args.timesteps,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "machine": platform.platform(),
        "wall_s": {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in times.items()},
        "speedup_w2_over_train": statistics.median(ratio("train x N", "sweep w2")),
        "speedup_w2_over_w1": statistics.median(ratio("sweep w1", "sweep w2")),
    }
    if address:
        result["ray_overhead_per_run_s"] = statistics.median(
            (r - w) / args.runs for r, w in zip(times["ray"], times["sweep w2"], strict=True)
        )
        result["ray_start_s"] = ray_start_s
    print(f"\n{args.runs} runs of {args.timesteps:,} steps, {args.repeats} repeats (median [min, max] wall s):")
    for k, v in result["wall_s"].items():
        print(f"  {k:10s} {v['median']:7.1f} [{v['min']:.1f}, {v['max']:.1f}]")
    print(
        f"  speed-up of 2 workers: {result['speedup_w2_over_train']:.2f}x over train x N, "
        f"{result['speedup_w2_over_w1']:.2f}x over 1 worker"
    )
    if address:
        print(
            f"  Ray: overhead {result['ray_overhead_per_run_s']:+.2f} s a run over 2 local workers; "
            f"'ray start' {ray_start_s:.1f} s"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
