"""The MuJoCo tasks: simrl's overhead over plain Gymnasium/SB3, and returns of the off-policy presets.

    python bench/mujoco_tasks.py --part a b          # a few minutes: (a) env steps/s, (b) SAC time per training step
    python bench/mujoco_tasks.py --part c --workers 2 --runs-dir /tmp --json bench/results/mujoco_c.json   # hours

(a) Env steps/s of ``simrl.envs.vec.make_vec_env(env_id, 1, seed=0)`` against ``gymnasium.make`` in SB3's
    ``DummyVecEnv`` seeded alike, under the same uniform random actions drawn before timing (the script checks
    both sides see the same observations). Both sides of every env are timed in turn, ``--repeats`` times
    (which side goes first alternates); the ratio is the median of the per-repeat ratios (simrl / plain), in
    wall time and in this process's CPU time. On a shared machine wall-time rates swing by 2x with others'
    load; the overhead is taken from CPU time, which that load disturbs far less.
(b) Wall time per training step of ``simrl train sac HalfCheetah-v5`` (its preset; one checkpoint, no
    periodic evaluation, one evaluation episode at the end) against plain SB3 SAC with the preset's
    hyper-parameters on ``DummyVecEnv([gym.make])``, both in a fresh process with one torch thread.
    Each side runs to ``learning_starts`` and to ``learning_starts + --train-steps``; the difference of
    the two whole-process times over ``--train-steps`` is the steady cost of one step, start-up, random
    warm-up and the final evaluation cancelled out. Wall and CPU time (the child's user + system, from
    ``getrusage``) alike; the overhead is taken from CPU time. Repeats alternate the sides.
(c) HalfCheetah-v5 final returns of SAC, TQC and CrossQ with their presets at ``--timesteps`` (default
    50,000), ``--seeds`` each: the IQM over seeds of each run's final evaluation (10 episodes) with a
    95% percentile bootstrap CI (``simrl.evaluation.stats``), and each run's wall time. Runs go one at a
    time, seed by seed, so a partial result covers every algorithm; each finished run is written to
    ``--json`` at once, and a run already recorded there is not run again.

(a) and (b) write bench/results/mujoco.json (each part its own key); (c) writes ``--json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder leads sys.path, and this file's name would shadow the mujoco package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import gymnasium as gym
import numpy as np

RESULTS = Path(__file__).parent / "results"
ENV_IDS = ("Hopper-v5", "HalfCheetah-v5", "Ant-v5", "Walker2d-v5", "Reacher-v5", "InvertedPendulum-v5")
TRAIN_ENV = "HalfCheetah-v5"


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    import stable_baselines3
    import torch

    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "gymnasium": gym.__version__,
        "mujoco": version("mujoco"),
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def _update_json(path: Path, key: str, value: Any) -> None:
    import json

    from simrl.utils.atomic import write_json

    doc = json.loads(path.read_text()) if path.is_file() else {"benchmark": "mujoco"}
    doc[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, doc)


# --- (a) env steps/s ------------------------------------------------------------------------------------------


def _steps_per_second(venv: Any, actions: np.ndarray) -> tuple[float, float]:
    """(steps per wall second, steps per CPU second of this process) over ``actions``."""
    wall, cpu = time.perf_counter(), time.process_time()
    for a in actions:
        venv.step_async(a)
        venv.step_wait()
    return len(actions) / (time.perf_counter() - wall), len(actions) / (time.process_time() - cpu)


def part_a(repeats: int, steps: int) -> dict[str, Any]:
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simrl.envs.vec import make_vec_env

    rng = np.random.default_rng(0)
    sides: dict[str, dict[str, Any]] = {}
    for env_id in ENV_IDS:
        plain = DummyVecEnv([lambda env_id=env_id: gym.make(env_id)])
        plain.seed(0)
        venvs = {"simrl": make_vec_env(env_id, 1, seed=0), "plain": plain}
        space = plain.action_space
        actions = rng.uniform(space.low, space.high, size=(steps, 1, *space.shape)).astype(space.dtype)
        first = [venv.reset() for venv in venvs.values()]
        for venv in venvs.values():
            _steps_per_second(venv, actions[:50])  # warm-up
        # The same seed and actions: both sides do the same work, so any difference is overhead.
        if not np.array_equal(*first) or not np.array_equal(venvs["simrl"].reset(), venvs["plain"].reset()):
            raise SystemExit(f"{env_id}: simrl and plain envs differ under the same seed")
        sides[env_id] = {"venvs": venvs, "actions": actions, "rates": {"simrl": [], "plain": []}, "cpu": {}}
        sides[env_id]["cpu"] = {"simrl": [], "plain": []}
    for r in range(repeats):
        for s in sides.values():
            for side in ("simrl", "plain") if r % 2 == 0 else ("plain", "simrl"):
                wall, cpu = _steps_per_second(s["venvs"][side], s["actions"])
                s["rates"][side].append(wall)
                s["cpu"][side].append(cpu)

    rows = []
    head = f"{'env':<22} {'simrl steps/s':>14} {'plain steps/s':>14}"
    print(f"{head} {'ratio (wall)':>13} {'ratio (CPU)':>12} {'overhead':>9}")
    for env_id, s in sides.items():
        rates, cpu = s["rates"], s["cpu"]
        ratio = statistics.median(a / b for a, b in zip(rates["simrl"], rates["plain"], strict=True))
        ratio_cpu = statistics.median(a / b for a, b in zip(cpu["simrl"], cpu["plain"], strict=True))
        row = {
            "env": env_id,
            "simrl_median": statistics.median(rates["simrl"]),
            "plain_median": statistics.median(rates["plain"]),
            "ratio": ratio,
            "ratio_cpu": ratio_cpu,
            "overhead_pct": 100 * (1 / ratio_cpu - 1),
            "rates": rates,
            "cpu_rates": cpu,
        }
        rows.append(row)
        print(
            f"{env_id:<22} {row['simrl_median']:>14,.0f} {row['plain_median']:>14,.0f} {ratio:>13.3f} "
            f"{ratio_cpu:>12.3f} {row['overhead_pct']:>8.1f}%"
        )
        for venv in s["venvs"].values():
            venv.close()
    unit = "env steps per second, 1 env; ratio simrl/plain, median of per-repeat ratios; overhead from CPU time"
    return {"unit": unit, "repeats": repeats, "steps": steps, "rows": rows}


# --- (b) SAC wall time per training step -----------------------------------------------------------------------


def _simrl_cli() -> str:
    sibling = Path(sys.executable).with_name("simrl")
    return str(sibling) if sibling.exists() else shutil.which("simrl") or "simrl"


def _timed(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of the whole process ``cmd``."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def plain_sac(total: int, seed: int, learning_starts: int) -> None:
    """Plain SB3 SAC on HalfCheetah-v5 with one torch thread: the other side of (b), run in its own process."""
    import torch
    from stable_baselines3 import SAC
    from stable_baselines3.common.vec_env import DummyVecEnv

    torch.set_num_threads(1)
    env = DummyVecEnv([lambda: gym.make(TRAIN_ENV)])
    SAC("MlpPolicy", env, learning_starts=learning_starts, seed=seed, verbose=0).learn(total)


def part_b(repeats: int, train_steps: int, work: Path) -> dict[str, Any]:
    from simrl.experiments.config import resolve

    hp = resolve("sac", TRAIN_ENV, seed=0).hyperparams
    if set(hp) != {"policy", "learning_starts"}:  # the plain side below passes only learning_starts
        raise SystemExit(f"the SAC preset for {TRAIN_ENV} changed ({hp}): update plain_sac")
    starts = int(hp["learning_starts"])

    def command(side: str, total: int, seed: int, name: str) -> list[str]:
        if side == "plain":
            return [sys.executable, __file__, "--plain-sac", str(total), str(seed), str(starts)]
        flags = ["--eval-freq", str(10**9), "--eval-episodes", "1", "--checkpoints", "100"]
        args = ["train", "sac", TRAIN_ENV, "--timesteps", str(total), "--seed", str(seed), *flags]
        return [_simrl_cli(), *args, "--out", str(work), "--name", name]

    walls: dict[str, dict[str, list[float]]] = {s: {"short": [], "long": []} for s in ("simrl", "plain")}
    cpus: dict[str, dict[str, list[float]]] = {s: {"short": [], "long": []} for s in ("simrl", "plain")}
    per_step: dict[str, list[float]] = {"simrl": [], "plain": []}
    per_step_cpu: dict[str, list[float]] = {"simrl": [], "plain": []}
    for r in range(repeats):
        for side in ("simrl", "plain") if r % 2 == 0 else ("plain", "simrl"):
            short = _timed(command(side, starts, r, f"short-{r}"), work)
            if side == "simrl":  # the child must be this simrl, with this preset
                import yaml

                child = yaml.safe_load((work / f"short-{r}" / "config.yaml").read_text())["hyperparams"]
                if child != hp:
                    raise SystemExit(f"the simrl run used {child}, not the preset {hp}: check PYTHONPATH")
            long = _timed(command(side, starts + train_steps, r, f"long-{r}"), work)
            for i, (store, steps) in enumerate(((walls, per_step), (cpus, per_step_cpu))):
                store[side]["short"].append(short[i])
                store[side]["long"].append(long[i])
                steps[side].append((long[i] - short[i]) / train_steps)
            to = f"{short[0]:6.1f} s ({short[1]:6.1f} CPU) to {starts}, {long[0]:6.1f} s ({long[1]:6.1f} CPU)"
            print(f"repeat {r} {side:<6} {to} to {starts + train_steps}", flush=True)

    def ratio(d: dict[str, list[float]]) -> float:
        return statistics.median(a / b for a, b in zip(d["simrl"], d["plain"], strict=True))

    row = {
        "simrl_ms_per_step": 1000 * statistics.median(per_step["simrl"]),
        "plain_ms_per_step": 1000 * statistics.median(per_step["plain"]),
        "simrl_cpu_ms_per_step": 1000 * statistics.median(per_step_cpu["simrl"]),
        "plain_cpu_ms_per_step": 1000 * statistics.median(per_step_cpu["plain"]),
        "ratio": ratio(per_step),
        "ratio_cpu": ratio(per_step_cpu),
        "overhead_pct": 100 * (ratio(per_step_cpu) - 1),
        "per_step_s": per_step,
        "per_step_cpu_s": per_step_cpu,
        "wall_s": walls,
        "cpu_s": cpus,
    }
    print(f"{'side':<8} {'wall ms/step':>13} {'CPU ms/step':>12}   (medians)")
    for side in ("simrl", "plain"):
        print(f"{side:<8} {row[f'{side}_ms_per_step']:>13.2f} {row[f'{side}_cpu_ms_per_step']:>12.2f}")
    print(f"simrl/plain: wall {row['ratio']:.3f}, CPU {row['ratio_cpu']:.3f} (overhead {row['overhead_pct']:+.1f}%)")
    return {
        "unit": "seconds per training step, (time(learning_starts + N) - time(learning_starts)) / N, whole processes",
        "hyperparams": hp,
        "repeats": repeats,
        "train_steps": train_steps,
        **row,
    }


# --- (c) returns at a fixed budget -----------------------------------------------------------------------------


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    from simrl.evaluation.stats import bootstrap_ci, iqm

    out = {}
    for algo in dict.fromkeys(r["algo"] for r in runs):
        finals = np.array([r["final_mean"] for r in runs if r["algo"] == algo])
        lo, hi = bootstrap_ci(finals, iqm, rng=0)
        walls = [r["wall_s"] for r in runs if r["algo"] == algo]
        out[algo] = {"n": len(finals), "iqm": iqm(finals), "ci95": [lo, hi], "median_wall_s": statistics.median(walls)}
    return out


def part_c(
    algos: list[str],
    seeds: list[int],
    timesteps: int,
    runs_dir: Path,
    path: Path,
    eval_freq: int | None,
    workers: int = 1,
) -> None:
    import json
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from simrl.experiments.results import load_run
    from simrl.utils.atomic import write_json

    doc = json.loads(path.read_text()) if path.is_file() else {}
    runs: list[dict[str, Any]] = [r for r in doc.get("runs", []) if r["timesteps"] == timesteps]
    head = {"benchmark": "mujoco part c", "env": TRAIN_ENV, "timesteps": timesteps, "machine": machine()}
    runs_dir.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()
    todo = [
        (seed, algo)
        for seed in seeds
        for algo in algos
        if not any(r["algo"] == algo and r["seed"] == seed for r in runs)
    ]

    def one(seed: int, algo: str) -> None:
        # Each run is its own process with one torch thread: with --workers 2 on 2 cores, one core per run.
        name = f"bench-{algo}-{TRAIN_ENV}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        cmd = [_simrl_cli(), "train", algo, TRAIN_ENV, "--timesteps", str(timesteps), "--seed", str(seed)]
        cmd += ["--out", str(runs_dir), "--name", name]
        cmd += ["--eval-freq", str(eval_freq)] if eval_freq else []
        print(f"{time.strftime('%H:%M:%S')} {' '.join(cmd)}", flush=True)
        start = time.perf_counter()
        with open(runs_dir / f"{name}.log", "w") as log:
            rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - start
        if rc != 0:
            print(f"  {algo} s{seed} failed (exit {rc}): see {runs_dir / f'{name}.log'}", flush=True)
            return
        final = load_run(runs_dir / name).final
        with lock:
            if path.is_file():  # runs another process of this bench wrote meanwhile (the same file, other seeds)
                known = {(r["algo"], r["seed"]) for r in runs}
                on_disk = json.loads(path.read_text()).get("runs", [])
                runs.extend(r for r in on_disk if r["timesteps"] == timesteps and (r["algo"], r["seed"]) not in known)
            runs.append(
                {
                    "algo": algo,
                    "seed": seed,
                    "timesteps": timesteps,
                    "final_mean": float(final.mean()),
                    "final_returns": final.tolist(),
                    "wall_s": wall,
                    "workers": workers,
                    "run_dir": str(runs_dir / name),
                }
            )
            write_json(path, {**head, "summary": _summary(runs), "runs": runs})
        print(f"  {algo} s{seed}: final mean {final.mean():9.1f}   wall {wall / 60:5.1f} min", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for future in [pool.submit(one, seed, algo) for seed, algo in todo]:
            future.result()
    print(f"{'algo':<8} {'n':>2} {'IQM final return':>17} {'95% CI':>22} {'median wall':>12}")
    for algo, s in _summary(runs).items() if runs else ():
        ci = f"[{s['ci95'][0]:.0f}, {s['ci95'][1]:.0f}]"
        print(f"{algo:<8} {s['n']:>2} {s['iqm']:>17.1f} {ci:>22} {s['median_wall_s'] / 60:>10.1f} m")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", choices=["a", "b", "c"], default=["a", "b"])
    parser.add_argument("--repeats", type=int, default=10, help="(a) timed runs per side and env")
    parser.add_argument("--steps", type=int, default=2500, help="(a) env steps per timed run")
    parser.add_argument("--b-repeats", type=int, default=3, help="(b) repeats per side")
    parser.add_argument("--train-steps", type=int, default=2000, help="(b) training steps after learning_starts")
    parser.add_argument("--algos", nargs="+", default=["sac", "tqc", "crossq"], help="(c) algorithms")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="(c) seeds")
    parser.add_argument("--timesteps", type=int, default=50000, help="(c) training budget")
    parser.add_argument("--eval-freq", type=int, help="(c) evaluate every N steps (default: simrl's, 1/20 of the run)")
    parser.add_argument("--workers", type=int, default=1, help="(c) runs at a time (one core each)")
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp"), help="(b), (c) parent of the run folders")
    parser.add_argument("--json", type=Path, default=RESULTS / "mujoco_c.json", help="(c) results file")
    parser.add_argument("--plain-sac", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_sac:
        plain_sac(*args.plain_sac)
        return
    os.environ.setdefault("MUJOCO_GL", "egl")
    # Child processes run elsewhere (cwd): a relative PYTHONPATH would import another simrl there.
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in paths)
    out = RESULTS / "mujoco.json"
    command = " ".join(["python", *sys.argv])
    if "a" in args.part:
        _update_json(out, "a", {"command": command, "machine": machine(), **part_a(args.repeats, args.steps)})
    if "b" in args.part:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="bench-mujoco-b-", dir=args.runs_dir) as work:
            result = part_b(args.b_repeats, args.train_steps, Path(work))
        _update_json(out, "b", {"command": command, "machine": machine(), **result})
    if "a" in args.part or "b" in args.part:
        print(f"wrote {out}")
    if "c" in args.part:
        part_c(args.algos, args.seeds, args.timesteps, args.runs_dir, args.json, args.eval_freq, args.workers)


if __name__ == "__main__":
    main()
