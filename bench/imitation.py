"""Imitation at work: BC and DAgger against the number of expert episodes, SAC seeded from imitation.

    python bench/imitation.py --part a b --envs pendulum --work /tmp/bench-imitation   # 15 min on one core
    python bench/imitation.py --part a --envs biped                  # 18 min, and its expert's 6 min
    python bench/imitation.py --part a --envs cheetah                # 45 min, its expert's 10 min included
    python bench/imitation.py --part b --envs biped --seeds 2        # 60,000 env steps a run: 10 min each

(Measured on a 2-core machine with one core busy elsewhere, one run at a time; the pendulum's expert,
22 s, was trained before its line ran.)

Every run is the package's own command (``simrl train``, ``simrl collect``) in a fresh process with one torch
thread; this script only orders them and reads their run folders. Each run has its own folder under
``--work`` (``<env>/expert``, ``<env>/demos25.npz``, ``<env>/a/bc-n5-s0``, ``<env>/b/sac-s0``...): a run
whose meta.json says ``done`` is read, not run again, and one that stopped half way is resumed from its
checkpoint (``simrl resume``) or started afresh where it has none, so an interrupted benchmark restarts
where it stopped. ``--budget-minutes`` stops starting runs after that long and reports what is finished.

The experts, trained here once per env with SAC's preset, one evaluation at the end:
    simrl train sac simrl/Pendulum-v0 --timesteps 4000 --seed 0 --eval-freq 4000
    simrl train sac simrl/BipedStand-v1 --timesteps 60000 --seed 0 --eval-freq 60000
    simrl train sac HalfCheetah-v5 --timesteps N --seed 0 --eval-freq N     (N: --cheetah-expert-steps)
Scores are normalized, (return - random) / (expert - random), with the expert's final evaluation (10
episodes) and the random policy on the same evaluation seeds (its meta.json's ``random_mean_reward``).
Then ``simrl collect EXPERT --episodes 25 --out <env>/demos25.npz`` (deterministic, seed 0) once per env, and
the same with ``--noise 0.1`` (``--noise``): DART's demonstrations, the expert acting with Gaussian noise of a
tenth of half the action range, each step labelled with the expert's own action.

(a) For n in ``--episodes`` (default 1 5 10 25), seeds 0..S-1 (``--seeds``, default 5) and D each of the two:
        simrl train bc ENV --demos D --demo-episodes n --seed s                      (BC's preset)
        simrl train dagger ENV --expert EXPERT --demos D --demo-episodes n --set rounds=2 --seed s --eval-freq 1
    The IQM over seeds with its 95% stratified-bootstrap CI (``simrl.evaluation.stats.aggregate``) of BC's
    final normalized score, of DAgger's after each round (round 0 is BC with DAgger's ``fit_steps``), and
    the median of BC's fit seconds (evaluations.npz's ``train_seconds``: the run's wall time, evaluation
    excluded). Goals (issue 14): BC >= 0.9 with 5 episodes (the imitation library reached 0.70 there),
    >= 0.98 with 10, in a tenth of its fit time (about 60 s per fit on Pendulum-v1, so <= 6 s); DAgger
    >= 0.98 within 2 rounds.
(b) For seeds 0..S-1, on the same evaluation grid (``--b-timesteps``, ``--b-eval-freq``; the pendulum
    4,000 and 250):
        simrl train seeded-sac ENV --demos D --demo-episodes 10 --timesteps T --eval-freq F --seed s
        simrl train sac ENV --timesteps T --eval-freq F --seed s
    the env steps until an evaluation first reaches 90% of the expert (normalized >= 0.9): median [range]
    over seeds, and the ratio of the medians seeded / scratch (goal: at most 1/3).

Every bench run but the experts writes one checkpoint (``--checkpoints 100``). Results go to ``--json``
(default bench/results/imitation.json), each part its own key and each env its own entry in it.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ["OMP_NUM_THREADS"] = "1"
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
from mbrl import median_range  # bench/mbrl.py's: median, range and misses of a per-seed figure

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

ENVS = {"pendulum": "simrl/Pendulum-v0", "biped": "simrl/BipedStand-v1", "cheetah": "HalfCheetah-v5"}
EXPERT_STEPS = {"pendulum": 4000, "biped": 60000}  # the cheetah's: --cheetah-expert-steps
B_GRID = {"pendulum": (4000, 250), "biped": (60000, 3000), "cheetah": (50000, 2500)}  # (T, F) of part (b)
ARMS = {"": "the expert's own episodes", "dart": "DART's: the expert acting with noise, labelled with its own actions"}
DEMOS = 25
ONE_EVAL = 10**9  # an --eval-freq past the end: the run is evaluated once, at its one checkpoint
GOALS = {"bc_5": 0.9, "bc_10": 0.98, "bc_fit_s": 6.0, "dagger_2_rounds": 0.98, "seeded_ratio": 1 / 3}
# Issue 14's reference figures, the imitation library's on Pendulum-v1 (measured there, not here).
REFERENCE = {"bc_5": "the imitation library's BC reached 0.70 with 5 episodes (Pendulum-v1)",
             "bc_fit_s": "a tenth of the imitation library's fit time, about 60 s per fit on Pendulum-v1"}  # fmt: skip


class OutOfTime(Exception):
    """The --budget-minutes deadline passed before this run was finished."""


class Runner:
    """Runs ``simrl`` commands into run folders, reusing finished ones, until the deadline."""

    def __init__(self, work: Path, deadline: float) -> None:
        self.work, self.deadline = work, deadline
        beside = Path(sys.executable).parent / "simrl"
        self.simrl = str(beside) if beside.is_file() else (shutil.which("simrl") or "simrl")
        self.ran = 0
        self.refused = 0  # runs not started: the deadline had passed

    def call(self, args: list[str], log: Path) -> float:
        """One ``simrl`` process; its output goes to ``log``. Returns its wall seconds."""
        if time.monotonic() > self.deadline:
            self.refused += 1
            raise OutOfTime(" ".join(args))
        print("  $ simrl " + " ".join(args), flush=True)
        started = time.perf_counter()
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as f:
            f.write(f"$ simrl {' '.join(args)}\n")
            f.flush()
            rc = subprocess.run([self.simrl, *args], stdout=f, stderr=subprocess.STDOUT, check=False).returncode
        seconds = time.perf_counter() - started
        if rc != 0:
            tail = log.read_text().splitlines()[-15:]
            sys.exit(f"simrl {' '.join(args)} exited {rc} after {seconds:.0f} s; the end of {log}:\n" + "\n".join(tail))
        self.ran += 1
        return seconds

    def train(self, folder: Path, args: list[str]) -> Path:
        """``simrl train ARGS --out PARENT --name NAME`` unless the folder is done already (resumed if it
        has a checkpoint, started afresh if not)."""
        status = _meta(folder).get("status") if (folder / "meta.json").is_file() else None
        if status == "done":
            return folder
        log = folder.parent / f"{folder.name}.log"
        if status is not None and any(folder.glob("checkpoints/*/state.json")):
            self.call(["resume", str(folder)], log)
        else:
            if folder.exists():
                shutil.rmtree(folder)
            self.call(["train", *args, "--out", str(folder.parent), "--name", folder.name], log)
        if _meta(folder).get("status") != "done":
            sys.exit(f"{folder}: status {_meta(folder).get('status')!r} after training (see {log})")
        return folder


def _meta(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "meta.json").read_text())


def _evals(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "evaluations.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _progress_last(folder: Path, column: str) -> list[float]:
    """The column of progress.csv, its empty cells dropped."""
    with (folder / "progress.csv").open() as f:
        return [float(row[column]) for row in csv.DictReader(f) if row.get(column) not in (None, "")]


class Expert:
    """An env's expert run, its normalization and its demonstrations."""

    def __init__(self, runner: Runner, key: str, steps: int, noise: float) -> None:
        from simrl.data.demos import Demos

        self.env = ENVS[key]
        base = runner.work / key
        args = ["sac", self.env, "--timesteps", str(steps), "--seed", "0", "--eval-freq", str(steps)]
        self.run = runner.train(base / "expert", args)
        ev = _evals(self.run)
        self.score = float(ev["results"][-1].mean())
        self.random = float(_meta(self.run)["random_mean_reward"])
        self.demos = base / f"demos{DEMOS}.npz"  # and DART's, with --noise
        if not self.demos.is_file():
            collect = ["collect", str(self.run), "--episodes", str(DEMOS), "--out", str(self.demos)]
            runner.call(collect, base / "collect.log")
        self.dart = base / f"demos{DEMOS}-noise{noise}.npz"
        if not self.dart.is_file():
            collect = ["collect", str(self.run), "--episodes", str(DEMOS), "--noise", str(noise)]
            runner.call([*collect, "--out", str(self.dart)], base / "collect.log")
        returns = Demos.load(self.demos, env_id=self.env).episode_returns
        self.info = {
            "env": self.env,
            "timesteps": steps,
            "score": self.score,
            "random": self.random,
            "train_seconds": float(ev["train_seconds"][-1]),
            "wall_time_s": float(_meta(self.run)["wall_time_s"]),
            "demo_returns": returns.tolist(),
            "demo_normalized_first_n": {},
            "dart_noise": noise,
            "dart_demo_returns": Demos.load(self.dart, env_id=self.env).episode_returns.tolist(),
        }

    def normalized(self, score: Any) -> Any:
        from simrl.data.demos import normalized_score

        return normalized_score(score, expert=self.score, random=self.random)


def _iqm(values: list[float | None]) -> dict[str, Any]:
    from simrl.evaluation.stats import aggregate

    hit = [v for v in values if v is not None]
    if not hit:
        return {"iqm": None, "iqm_ci": None, "n_runs": 0, "values": values}
    a = aggregate(np.array(hit), rng=0)
    return {"iqm": a["iqm"], "iqm_ci": a["iqm_ci"], "n_runs": a["n_runs"], "values": values}


def part_a(runner: Runner, expert: Expert, key: str, seeds: int, episodes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"expert": expert.info, "seeds": seeds, "arms": ARMS, "by_episodes": {}}
    wall = 0.0  # the runs' own wall times (meta.json), evaluations included
    for n in episodes:
        demo_mean = float(np.mean(expert.info["demo_returns"][:n]))
        expert.info["demo_normalized_first_n"][str(n)] = expert.normalized(demo_mean)
        row: dict[str, Any] = {}
        for arm, demos in (("", expert.demos), ("dart", expert.dart)):
            cells, seconds = _arm_a(runner, expert, runner.work / key / "a", arm, demos, n, seeds)
            row.update(cells)
            wall += seconds
        out["by_episodes"][str(n)] = row
        for arm in ARMS:
            k = f"{arm}_" if arm else ""
            print(f"(a) {expert.env} n={n} {arm or 'plain'}: BC {_fmt(row[f'{k}bc'])},"
                  f" DAgger r1 {_fmt(row[f'{k}dagger_round_1'])}, r2 {_fmt(row[f'{k}dagger_round_2'])},"
                  f" BC fit {_sec(row[f'{k}bc_fit_seconds'])}", flush=True)  # fmt: skip
    out["goals"] = {f"{arm or 'plain'}": _goals_a(out["by_episodes"], f"{arm}_" if arm else "") for arm in ARMS}
    out["runs_wall_time_s"] = wall
    return out


def _arm_a(
    runner: Runner, expert: Expert, folder: Path, arm: str, demos: Path, n: int, seeds: int
) -> tuple[dict[str, Any], float]:
    """BC and DAgger from the first ``n`` episodes of ``demos`` over ``seeds`` seeds: the row's cells (keys
    prefixed ``arm_``) and the runs' wall seconds."""
    bc: list[float | None] = []
    bc_s: list[float | None] = []
    bc_steps: list[float | None] = []
    dagger: list[list[float | None]] = [[], [], []]
    dagger_s: list[float | None] = []
    labels: list[float | None] = []
    wall, tag = 0.0, f"{arm}-" if arm else ""
    for s in range(seeds):
        common = ["--demos", str(demos), "--demo-episodes", str(n), "--seed", str(s), "--checkpoints", "100"]
        try:
            run = runner.train(folder / f"bc-{tag}n{n}-s{s}", ["bc", expert.env, *common, "--eval-freq", str(ONE_EVAL)])
            ev = _evals(run)
            bc.append(float(expert.normalized(ev["results"][-1].mean())))
            bc_s.append(float(ev["train_seconds"][-1]))
            bc_steps.append(_progress_last(run, "train/gradient_steps")[-1])
            wall += float(_meta(run)["wall_time_s"])
        except OutOfTime:
            for values in (bc, bc_s, bc_steps):
                values.append(None)
        try:
            args = ["dagger", expert.env, "--expert", str(expert.run), *common, "--set", "rounds=2"]
            run = runner.train(folder / f"dagger-{tag}n{n}-s{s}", [*args, "--eval-freq", "1"])
            ev = _evals(run)
            assert ev["timesteps"].tolist() == [1, 2, 3], ev["timesteps"]  # rounds 0, 1, 2
            for r in range(3):
                dagger[r].append(float(expert.normalized(ev["results"][r].mean())))
            dagger_s.append(float(ev["train_seconds"][-1]))
            labels.append(_progress_last(run, "dagger/expert_labels")[-1])
            wall += float(_meta(run)["wall_time_s"])
        except OutOfTime:
            for values in (*dagger, dagger_s, labels):
                values.append(None)
    k = f"{arm}_" if arm else ""
    cells = {
        f"{k}bc": _iqm(bc),
        f"{k}bc_fit_seconds": median_range(bc_s),
        f"{k}bc_gradient_steps": median_range(bc_steps),
        **{f"{k}dagger_round_{r}": _iqm(dagger[r]) for r in range(3)},
        f"{k}dagger_train_seconds": median_range(dagger_s),
        f"{k}dagger_expert_labels": median_range(labels),
    }
    return cells, wall


def _goals_a(rows: dict[str, Any], k: str) -> dict[str, Any]:
    """The issue's goals on one arm's cells (keys prefixed ``k``)."""

    def iqm(n: str, key: str) -> float | None:
        return rows[n][k + key]["iqm"] if n in rows else None

    goals: dict[str, Any] = {}
    for n, target in (("5", GOALS["bc_5"]), ("10", GOALS["bc_10"])):
        v = iqm(n, "bc")
        goals[f"bc_{n}_episodes>={target}"] = {"iqm": v, "met": None if v is None else v >= target}
    goals["bc_5_episodes>=0.9"]["reference"] = REFERENCE["bc_5"]
    secs = [r[f"{k}bc_fit_seconds"]["median"] for r in rows.values() if r[f"{k}bc_fit_seconds"]["median"] is not None]
    goals[f"bc_fit_seconds<={GOALS['bc_fit_s']}"] = {
        "max_median": max(secs) if secs else None,
        "met": None if not secs else max(secs) <= GOALS["bc_fit_s"],
        "reference": REFERENCE["bc_fit_s"],
    }
    for n in rows:
        best = [iqm(n, f"dagger_round_{r}") for r in (1, 2)]
        v = max((b for b in best if b is not None), default=None)
        goals[f"dagger_n{n}_within_2_rounds>={GOALS['dagger_2_rounds']}"] = {
            "iqm_round_1": best[0],
            "iqm_round_2": best[1],
            "met": None if v is None else v >= GOALS["dagger_2_rounds"],
        }
    return goals


def _first_hit(run: Path, expert: Expert) -> tuple[int | None, list[list[float]]]:
    ev = _evals(run)
    curve = [[int(t), float(expert.normalized(r.mean()))] for t, r in zip(ev["timesteps"], ev["results"], strict=True)]
    hit = next((t for t, v in curve if v >= 0.9), None)
    return hit, curve


def part_b(runner: Runner, expert: Expert, key: str, seeds: int, grid: tuple[int, int], demos: int) -> dict[str, Any]:
    folder = runner.work / key / "b"
    timesteps, eval_freq = grid
    common = ["--timesteps", str(timesteps), "--eval-freq", str(eval_freq), "--checkpoints", "100"]
    arms = {
        "seeded-sac": ["seeded-sac", expert.env, "--demos", str(expert.demos), "--demo-episodes", str(demos), *common],
        "sac": ["sac", expert.env, *common],
    }
    out: dict[str, Any] = {"expert": expert.info, "seeds": seeds, "timesteps": timesteps, "eval_freq": eval_freq,
                           "demo_episodes": demos, "arms": {}}  # fmt: skip
    wall = 0.0
    for arm, args in arms.items():
        hits: list[float | None] = []
        finals: list[float | None] = []
        curves, seconds = [], []
        done = 0
        for s in range(seeds):
            try:
                run = runner.train(folder / f"{arm}-s{s}", [*args, "--seed", str(s)])
            except OutOfTime:
                continue
            done += 1
            hit, curve = _first_hit(run, expert)
            hits.append(hit)
            finals.append(curve[-1][1])
            curves.append(curve)
            seconds.append(float(_evals(run)["train_seconds"][-1]))
            wall += float(_meta(run)["wall_time_s"])
        out["arms"][arm] = {"runs": done, "steps_to_0.9": median_range(hits), "final": median_range(finals),
                            "train_seconds": median_range(seconds), "curves": curves}  # fmt: skip
        m = out["arms"][arm]["steps_to_0.9"]
        print(f"(b) {expert.env} {arm}: steps to 90% {m['median']} [{m['min']}, {m['max']}]"
              f" ({m['never']} never, {done} runs)", flush=True)  # fmt: skip
    seeded, scratch = (out["arms"][a]["steps_to_0.9"]["median"] for a in ("seeded-sac", "sac"))
    out["ratio_seeded_over_scratch"] = seeded / scratch if seeded is not None and scratch else None
    out["runs_wall_time_s"] = wall
    r = out["ratio_seeded_over_scratch"]
    out["goal_ratio<=1/3"] = {"ratio": r, "met": None if r is None else r <= GOALS["seeded_ratio"]}
    return out


def _fmt(a: dict[str, Any]) -> str:
    if a["iqm"] is None:
        return "-"
    lo, hi = a["iqm_ci"]
    return f"{a['iqm']:.3f} [{lo:.3f}, {hi:.3f}]"


def _sec(m: dict[str, Any]) -> str:
    return "-" if m["median"] is None else f"{m['median']:.1f} s"


def print_tables(results: dict[str, Any]) -> None:
    for a in results.get("a", {}).values():
        e = a["expert"]
        print(f"\n(a) {e['env']}: expert {e['score']:.1f} (SAC, {e['timesteps']} steps, {e['wall_time_s']:.0f} s),"
              f" random {e['random']:.1f}; {a['seeds']} seeds; normalized IQM [95% CI]; seconds: medians")  # fmt: skip
        for arm, what in a.get("arms", {"": ARMS[""]}).items():
            k = f"{arm}_" if arm else ""
            print(f"  demonstrations: {what}" + (f" (noise {e['dart_noise']})" if arm else ""))
            print(f"  {'episodes':>8}  {'BC':^22}  {'DAgger round 0':^22}  {'DAgger round 1':^22}"
                  f"  {'DAgger round 2':^22}  {'BC fit':>7}  {'DAgger':>7}  {'demos':>6}")  # fmt: skip
            for n, r in a["by_episodes"].items():
                returns = e["dart_demo_returns" if arm else "demo_returns"][: int(n)]
                demo = float(np.mean([(x - e["random"]) / (e["score"] - e["random"]) for x in returns]))
                print(f"  {n:>8}  {_fmt(r[k + 'bc']):^22}  {_fmt(r[k + 'dagger_round_0']):^22}"
                      f"  {_fmt(r[k + 'dagger_round_1']):^22}  {_fmt(r[k + 'dagger_round_2']):^22}"
                      f"  {_sec(r[k + 'bc_fit_seconds']):>7}  {_sec(r[k + 'dagger_train_seconds']):>7}"
                      f"  {demo:6.3f}")  # fmt: skip
            goals = a["goals"].get(arm or "plain", a["goals"])
            for goal, g in goals.items():
                print(f"    goal {goal}: {'met' if g['met'] else ('unknown' if g['met'] is None else 'NOT met')}"
                      f" ({', '.join(f'{k} {v:.3f}' for k, v in g.items() if isinstance(v, float))})")  # fmt: skip
    for b in results.get("b", {}).values():
        e = b["expert"]
        print(f"\n(b) {e['env']}: env steps to 90% of the expert (normalized >= 0.9), {b['timesteps']} steps,"
              f" evaluations every {b['eval_freq']}; median [range] over seeds")  # fmt: skip
        for arm, r in b["arms"].items():
            m, f = r["steps_to_0.9"], r["final"]
            print(f"  {arm:>10}: {m['median']} [{m['min']}, {m['max']}] ({m['never']} of {r['runs']} never);"
                  f" final normalized median {f['median'] if f['median'] is None else round(f['median'], 3)};"
                  f" {_sec(r['train_seconds'])} of training")  # fmt: skip
        ratio = b["ratio_seeded_over_scratch"]
        print(f"  ratio seeded/scratch: {'-' if ratio is None else f'{ratio:.3f}'} (goal <= 1/3:"
              f" {'met' if b['goal_ratio<=1/3']['met'] else 'NOT met'})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", nargs="+", default=["a", "b"], choices=["a", "b"])
    p.add_argument("--envs", nargs="+", default=["pendulum"], choices=list(ENVS))
    p.add_argument("--work", type=Path, default=Path("/tmp/bench-imitation"))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--episodes", nargs="+", type=int, default=[1, 5, 10, 25])
    p.add_argument("--cheetah-expert-steps", type=int, default=50000)
    p.add_argument("--noise", type=float, default=0.1, help="part a's DART demonstrations: simrl collect --noise")
    p.add_argument("--b-timesteps", type=int, help="part b's env steps (default: 4,000 on the pendulum)")
    p.add_argument("--b-eval-freq", type=int, help="part b's evaluation interval (default: 250 on the pendulum)")
    p.add_argument("--b-demo-episodes", type=int, default=10)
    p.add_argument("--budget-minutes", type=float, default=math.inf, help="start no run after this long")
    p.add_argument("--json", type=Path, default=RESULTS / "imitation.json")
    args = p.parse_args()
    if max(args.episodes) > DEMOS:
        p.error(f"--episodes at most {DEMOS}")
    results: dict[str, Any] = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results["benchmark"] = "imitation"
    results["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_average_at_start": list(os.getloadavg()), "torch_threads": 1}  # fmt: skip
    runner = Runner(args.work, time.monotonic() + 60 * args.budget_minutes)
    started = time.perf_counter()
    partial = False
    for key in args.envs:
        try:
            expert = Expert(runner, key, EXPERT_STEPS.get(key, args.cheetah_expert_steps), args.noise)
        except OutOfTime:
            print(f"{key}: out of time before its expert was trained", flush=True)
            partial = True
            continue
        print(f"{expert.env}: expert {expert.score:.1f}, random {expert.random:.1f}", flush=True)
        for part in args.part:
            t, ran = time.perf_counter(), runner.ran
            if part == "a":
                r = part_a(runner, expert, key, args.seeds, args.episodes)
            else:
                steps, freq = B_GRID[key]
                grid = (args.b_timesteps or steps, args.b_eval_freq or freq)
                r = part_b(runner, expert, key, args.seeds, grid, args.b_demo_episodes)
            r["seconds"] = time.perf_counter() - t
            r["command"] = " ".join(["python bench/imitation.py", *sys.argv[1:]])
            before = results.get(part, {}).get(key, {})
            if runner.ran == ran and "seconds" in before:  # every run reused: keep the wall time that made them
                r["seconds"], r["command"] = before["seconds"], before["command"]
            results.setdefault(part, {})[key] = r
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    print_tables(results)
    note = f" ({runner.refused} runs not started: the budget ran out)" if partial or runner.refused else ""
    print(f"\n{runner.ran} simrl processes in {time.perf_counter() - started:.0f} s{note}")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
