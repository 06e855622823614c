"""Do the presets of the 2-D tasks work for every seed, and does the standing look natural? (issue 16)

    python bench/planar_learning.py                                  # every task and algorithm, 5 seeds: hours
    python bench/planar_learning.py --tasks biped --algos sac --timesteps 80000 --eval-freq 4000
    python bench/planar_learning.py --tasks ball --algos sac --timesteps 100000 --env-kwarg reward=shaped

Each (task, algorithm) is one ``simrl sweep ALGO ENV --seeds 0-4`` with the algorithm's preset, run as a
user runs it (a subprocess; the same command again continues an interrupted sweep). Then, from each run's
final evaluation (10 episodes on the evaluation seeds):

- the IQM of the final mean return over seeds, with its 95% stratified-bootstrap CI;
- the fraction of seeds whose every evaluation episode lasts the time limit (500 steps);
- for the bipeds, the posture measures the envs report (``metric_*``, each episode's mean over its
  steps), as the IQM over seeds of each seed's mean over episodes: both feet on the ground, torso
  (ball) drift from the start, the torso within 20 degrees of vertical, the joints' mean speed.

Goals (issue 16): the cart-pole and the standing biped last every episode in 5 of 5 seeds; the standing
biped has both feet down at least 95% of steps and drifts under 0.1 m; the biped on the ball stands
upright (torso within 20 degrees) for 95% of steps in 5 of 5 seeds, every episode lasting. Printed and
written to ``--json`` (default bench/results/planar_learning.json; the (algorithm, task) rows of an earlier
run of other tasks are kept), with the command of every sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SIMRL = [sys.executable, "-m", "simrl.cli"]
TASKS = {
    "cartpole": "simrl/CartPole-v0",
    "biped": "simrl/BipedStand-v1",
    "biped-v0": "simrl/BipedStand-v0",  # no ankles, no posture terms: for contrast
    "ball": "simrl/BallBalance-v1",
    "ball-v0": "simrl/BallBalance-v0",  # without the pose, drift and still terms: for contrast
}
LIMIT = 500  # every task's time limit
STAND = (("metric_both_feet_down", True, 0.95), ("metric_torso_drift", False, 0.1))
GOALS = {  # task -> (measure, at least (True) or under (False), value) for every seed
    "biped": STAND,
    "biped-v0": STAND,
    "ball": (("metric_upright", True, 0.95),),
    "ball-v0": (("metric_upright", True, 0.95),),
}


def final_evaluation(run: Path) -> dict[str, np.ndarray]:
    """The last row of a run's evaluations.npz: results, ep_lengths and the info arrays."""
    with np.load(run / "evaluations.npz", allow_pickle=False) as npz:
        return {k: npz[k][-1] for k in npz.files if k not in ("timesteps", "train_seconds")}


def summarize(task: str, runs: list[Path]) -> dict:
    from simrl.evaluation.stats import aggregate

    finals = [final_evaluation(r) for r in runs]
    means = np.array([f["results"].mean() for f in finals])
    full = [bool(np.all(f["ep_lengths"] >= LIMIT)) for f in finals]
    agg = aggregate(means, rng=0)
    out = {
        "runs": [str(r) for r in runs],
        "final_mean_per_seed": means.tolist(),
        "iqm": agg["iqm"],
        "iqm_ci": agg["iqm_ci"],
        "seeds_full_episodes": f"{sum(full)}/{len(full)}",
        "measures": {},
        "goals": {},
    }
    keys = [k for k in finals[0] if k.startswith("metric_")]
    for k in keys:
        per_seed = np.array([float(np.mean(f[k])) for f in finals])
        m = aggregate(per_seed, rng=0)
        out["measures"][k] = {"per_seed": per_seed.tolist(), "iqm": m["iqm"], "iqm_ci": m["iqm_ci"]}
    out["goals"]["every episode full, every seed"] = all(full)  # the ball's rider stands only while it lasts
    for key, at_least, value in GOALS.get(task, ()):
        per_seed = out["measures"][key]["per_seed"]
        ok = [v >= value if at_least else v < value for v in per_seed]
        out["goals"][f"{key} {'>=' if at_least else '<'} {value}"] = f"{sum(ok)}/{len(ok)} seeds"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", default="cartpole,biped,ball", help="comma-separated: " + ", ".join(TASKS))
    ap.add_argument("--algos", default="sac,ppo")
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--timesteps", type=int, default=None, help="default: each preset's")
    ap.add_argument("--eval-freq", type=int, default=None, help="default: each sweep's (1/20 of a run)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--env-kwarg", action="append", default=[], help="passed to every sweep")
    ap.add_argument("--set", action="append", default=[], dest="set_", help="a hyper-parameter for every sweep")
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-planar-learning"), help="the sweeps' parent folder")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "planar_learning.json")
    args = ap.parse_args()

    rows: dict = {}
    for task in args.tasks.split(","):
        for algo in args.algos.split(","):
            folder = args.out / f"{algo}-{task}"
            cmd = [*SIMRL, "sweep", algo, TASKS[task], "--seeds", args.seeds, "--workers", str(args.workers)]
            cmd += ["--out", str(folder)]
            cmd += [f"--timesteps={args.timesteps}"] if args.timesteps else []
            cmd += [f"--eval-freq={args.eval_freq}"] if args.eval_freq else []
            cmd += [x for kw in args.env_kwarg for x in ("--env-kwarg", kw)]
            cmd += [x for s in args.set_ for x in ("--set", s)]
            started = time.perf_counter()
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                print(f"{algo} {task}: the sweep failed ({done.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
            status = json.loads((folder / "status.json").read_text())
            runs = [folder / "runs" / name for name, s in status["runs"].items() if s["status"] == "done"]
            if not runs:
                continue
            row = summarize(task, runs)
            row.update(command=" ".join(["simrl", *cmd[3:]]), wall_s=seconds)
            rows[f"{algo} {task}"] = row
            measures = ", ".join(f"{k.removeprefix('metric_')} {v['iqm']:.3f}" for k, v in row["measures"].items())
            print(
                f"{algo:4s} {task:8s} IQM {row['iqm']:8.1f} [{row['iqm_ci'][0]:.1f}, {row['iqm_ci'][1]:.1f}]  "
                f"full {row['seeds_full_episodes']}  {measures}  goals {row['goals']}  ({seconds / 60:.1f} min)"
            )
    # Read just before writing, so that two benches run side by side on other tasks keep each other's rows.
    earlier = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "command": " ".join(sys.argv),  # the last bench's; each row has its own sweep command
        "tasks": {**earlier.get("tasks", {}), **rows},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
