"""simrl tune at work: does tuning pay, what pruning saves, and how a study scales with workers.

    python bench/hpo.py --part a b c --work /tmp/bench-hpo     # about 25 minutes on 2 cores

(a) A 20-trial TPE study of PPO on simrl/Pendulum-v0 (its shipped space, configs/spaces/ppo.yaml's
    pendulum block), 3 seeds per trial, median pruner, ``--timesteps`` 30,720 (half the preset's budget,
    about where the preset first solves), then ``simrl confirm`` of its best against the preset on 10
    fresh seeds: the IQM of each side's final evaluations with 95% CIs and P(tuned > preset), whichever
    way it falls.
(b) The same study with ``--pruner none``: environment steps spent by all trials (the sum of every trial
    run's ``timesteps_done``) and the best value found, against (a)'s pruned study.
(c) One worker against two on one PostgreSQL study (a private server, as the tests start one): trials
    per minute of ``--c-trials`` one-seed trials of ``--timesteps``, from the first worker's start to the
    last one's end (process start-up and each worker's closing plots included, as a user sees them).
    ``--repeats`` pairs, the order alternating; the median ratio.

Every study is run by the ``simrl`` command in its own process, one torch thread each. Results go to
``--json`` (default bench/results/hpo.json), each part its own key.
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
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ENV = "simrl/Pendulum-v0"


def simrl() -> list[str]:
    exe = Path(sys.executable).with_name("simrl")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "simrl.cli"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def run(args: list[str], log: Path) -> float:
    """Run ``simrl ARGS`` (its output to ``log``); returns its wall time."""
    start = time.perf_counter()
    with log.open("a") as f:
        f.write(f"$ simrl {' '.join(args)}\n")
        f.flush()
        subprocess.run([*simrl(), *args], check=True, stdout=f, stderr=subprocess.STDOUT, env=_env())
    return time.perf_counter() - start


def study_steps(folder: Path) -> int:
    """Environment steps all trial runs of a study took."""
    return sum(json.loads(m.read_text())["timesteps_done"] for m in (folder / "trials").glob("*/*/meta.json"))


def tune_args(name: str, work: Path, trials: int, timesteps: int, *extra: str) -> list[str]:
    return ["tune", "ppo", ENV, "--trials", str(trials), "--seeds-per-trial", "3",
            "--timesteps", str(timesteps), "--seed", "0", "--out", str(work), "--name", name, *extra]  # fmt: skip


def study_summary(folder: Path, wall: float) -> dict[str, Any]:
    results = json.loads((folder / "results.json").read_text())
    states = [t["state"] for t in results["trials"]]
    return {
        "best_value": results["best_value"],
        "best_params": results["best_params"],
        "trials_complete": states.count("complete"),
        "trials_pruned": states.count("pruned"),
        "env_steps": study_steps(folder),
        "wall_s": round(wall, 1),
    }


def part_a(work: Path, trials: int, timesteps: int, seeds: int, log: Path) -> dict[str, Any]:
    folder = work / "pruned"
    args = tune_args("pruned", work, trials, timesteps)
    wall = run(args, log)
    out = {"study": study_summary(folder, wall), "command": "simrl " + " ".join(args)}
    start = time.perf_counter()
    run(["confirm", str(folder), "--seeds", str(seeds)], log)
    confirm = json.loads((folder / "confirm" / "confirm.json").read_text())
    out["confirm"] = {**confirm, "wall_s": round(time.perf_counter() - start, 1)}
    return out


def part_b(work: Path, trials: int, timesteps: int, log: Path) -> dict[str, Any]:
    wall = run(tune_args("unpruned", work, trials, timesteps, "--pruner", "none"), log)
    unpruned = study_summary(work / "unpruned", wall)
    pruned = study_summary(work / "pruned", 0.0) if (work / "pruned" / "results.json").exists() else None
    out: dict[str, Any] = {"unpruned": unpruned}
    if pruned is not None:
        out["pruned"] = pruned
        out["steps_saved_by_pruning"] = 1 - pruned["env_steps"] / unpruned["env_steps"]
    return out


def part_c(work: Path, trials: int, timesteps: int, repeats: int, log: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.integration.postgres import private_server

    rates: dict[int, list[float]] = {1: [], 2: []}
    with private_server() as url:  # one database; each measurement its own study (named by its folder)
        for r in range(repeats):
            for workers in (1, 2) if r % 2 == 0 else (2, 1):
                args = ["tune", "ppo", ENV, "--trials", str(trials), "--timesteps", str(timesteps),
                        "--n-evaluations", "2", "--pruner", "none", "--storage", url, "--out", str(work / "c"),
                        "--name", f"c{workers}r{r}"]  # fmt: skip
                start = time.perf_counter()
                with log.open("a") as f:
                    procs = [
                        subprocess.Popen([*simrl(), *args], stdout=f, stderr=subprocess.STDOUT, env=_env())
                        for _ in range(workers)
                    ]
                    codes = [p.wait() for p in procs]
                wall = time.perf_counter() - start
                if any(codes):
                    raise RuntimeError(f"a worker failed ({codes}); see {log}")
                done = json.loads((work / "c" / f"c{workers}r{r}" / "results.json").read_text())["trials"]
                complete = sum(t["state"] == "complete" for t in done)
                rates[workers].append(complete / wall * 60)
                print(f"  (c) repeat {r}: {workers} worker(s), {complete} trials in {wall:.1f} s", flush=True)
    ratios = [b / a for a, b in zip(rates[1], rates[2], strict=True)]
    return {
        "trials": trials,
        "timesteps": timesteps,
        "trials_per_minute": {str(k): [round(x, 2) for x in v] for k, v in rates.items()},
        "median_trials_per_minute": {str(k): round(statistics.median(v), 2) for k, v in rates.items()},
        "median_ratio_2_to_1": round(statistics.median(ratios), 3),
    }


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "optuna": version("optuna"),
        "load_average_at_start": os.getloadavg(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", nargs="+", choices=("a", "b", "c"), default=["a", "b", "c"])
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-hpo"))
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--timesteps", type=int, default=30720)
    p.add_argument("--confirm-seeds", type=int, default=10)
    p.add_argument("--c-trials", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=RESULTS / "hpo.json")
    a = p.parse_args()
    for part in a.part:  # a fresh folder per part that is run
        for name in {"a": ["pruned"], "b": ["unpruned"], "c": ["c"]}[part]:
            shutil.rmtree(a.work / name, ignore_errors=True)
    a.work.mkdir(parents=True, exist_ok=True)
    log = a.work / "bench.log"
    doc = json.loads(a.json.read_text()) if a.json.is_file() else {"benchmark": "hpo"}
    doc["machine"] = machine()
    for part in a.part:
        start = time.perf_counter()
        if part == "a":
            doc["a"] = part_a(a.work, a.trials, a.timesteps, a.confirm_seeds, log)
        elif part == "b":
            doc["b"] = part_b(a.work, a.trials, a.timesteps, log)
        else:
            doc["c"] = part_c(a.work, a.c_trials, a.timesteps, a.repeats, log)
        print(f"({part}) {time.perf_counter() - start:.0f} s: {json.dumps(doc[part], default=str)[:2000]}", flush=True)
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
