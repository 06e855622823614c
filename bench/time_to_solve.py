"""Wall time until Pendulum is solved: simrl's presets against plain SB3 with the rl-zoo settings.

"Solved" is the first periodic evaluation whose mean return over 10 deterministic episodes on
fixed seeds (``simrl.evaluation.evaluate.evaluate``) is at least -200. Both sides use the same
protocol: an evaluation is due every K env steps (the same K for both sides); for PPO it runs at
the first update boundary at or after each multiple of K (the policy only changes at updates),
for SAC at the first step at or after it. The clock is stopped while evaluating, so only training
time (including SB3's setup inside ``learn``) counts.

- simrl: ``resolve(algo, "simrl/Pendulum-v0")`` then ``Run.build`` (the batched numpy env), the
  preset as users get it; ``--set-ppo``/``--set-sac`` apply ``--set``-style overrides to try variants.
- zoo: plain SB3 on Gymnasium's Pendulum-v1 in a DummyVecEnv with rl-baselines3-zoo's hyper-parameters.

Runs are interleaved seed by seed (the two sides of one seed back to back, alternating which goes
first) so that load from other work on the machine hits both sides alike. Medians count an
unsolved run as infinitely slow. Writes bench/results/time_to_solve.json.

    python bench/time_to_solve.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.callbacks import BaseCallback

from simrl.evaluation.evaluate import evaluate

SOLVED = -200.0
EVAL_EPISODES = 10
SIMRL_ENV, ZOO_ENV = "simrl/Pendulum-v0", "Pendulum-v1"
EVAL_EVERY = {"ppo": 2048, "sac": 500}
ZOO = {
    "ppo": {
        "n_envs": 4,
        "hyperparams": dict(
            n_steps=1024, gamma=0.9, gae_lambda=0.95, learning_rate=1e-3, n_epochs=10,
            ent_coef=0.0, clip_range=0.2, use_sde=True, sde_sample_freq=4,
        ),
    },
    "sac": {"n_envs": 1, "hyperparams": dict(learning_rate=1e-3)},
}  # fmt: skip
RESULTS = Path(__file__).parent / "results" / "time_to_solve.json"


@dataclass
class Outcome:
    side: str
    algo: str
    seed: int
    solved: bool
    seconds: float | None  # training time to the solving evaluation; None if unsolved
    steps: int | None  # env steps at the solving evaluation
    train_seconds: float  # training time of the whole run (to the solve, or to the cap)
    steps_done: int
    eval_seconds: float  # time spent evaluating (not counted)
    evals: list[tuple[int, float, float]]  # (steps, training seconds, mean return)


class SolveClock(BaseCallback):
    """Evaluates every ``every`` steps with the clock stopped; stops training at the first solve."""

    def __init__(self, env_id: str, every: int, on_policy: bool) -> None:
        super().__init__()
        self.env_id, self.every, self.on_policy = env_id, every, on_policy
        self.next_eval = every
        self.eval_seconds = 0.0
        self.solved_at: tuple[int, float] | None = None
        self.evals: list[tuple[int, float, float]] = []
        self.started = time.perf_counter()

    def train_seconds(self) -> float:
        return time.perf_counter() - self.started - self.eval_seconds

    def start(self) -> None:
        self.started, self.eval_seconds = time.perf_counter(), 0.0

    def _check(self) -> None:
        step = int(self.model.num_timesteps)
        if self.solved_at is not None or step < self.next_eval:
            return
        elapsed, t0 = self.train_seconds(), time.perf_counter()
        mean = evaluate(self.model, self.env_id, EVAL_EPISODES).mean
        self.eval_seconds += time.perf_counter() - t0
        self.evals.append((step, round(elapsed, 3), round(mean, 2)))
        while self.next_eval <= step:
            self.next_eval += self.every
        if mean >= SOLVED:
            self.solved_at = (step, elapsed)

    def _on_rollout_start(self) -> None:
        if self.on_policy:  # right after an update: the policy is new
            self._check()

    def _on_step(self) -> bool:
        if not self.on_policy:
            self._check()
        return self.solved_at is None

    def _on_training_end(self) -> None:
        self._check()  # the last update has not been evaluated yet


def build_simrl(algo: str, seed: int, sets: list[str]) -> tuple[Any, str, dict[str, Any]]:
    from simrl.experiments.config import resolve
    from simrl.experiments.training import build_trainer, schedule
    from simrl.utils.seeding import derive_seed

    config = resolve(algo, SIMRL_ENV, seed=seed, sets=sets, device="cpu")
    trainer = build_trainer(config)
    model = trainer.model
    # As Run does: schedules run over the preset's n_timesteps, and the env is reseeded at the start.
    trainer.set_total_timesteps(schedule(config.timesteps, trainer.step_unit, config.checkpoints)[0])
    trainer.venv.seed(derive_seed(config.seed, 0))
    settings = {"env": SIMRL_ENV, "n_envs": config.n_envs, "n_timesteps": config.timesteps, **config.hyperparams}
    return model, SIMRL_ENV, settings


def build_zoo(algo: str, seed: int) -> tuple[Any, str, dict[str, Any]]:
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.env_util import make_vec_env

    zoo = ZOO[algo]
    venv = make_vec_env(ZOO_ENV, n_envs=zoo["n_envs"], seed=seed)  # DummyVecEnv of Monitor-wrapped envs
    cls = {"ppo": PPO, "sac": SAC}[algo]
    model = cls("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **zoo["hyperparams"])
    return model, ZOO_ENV, {"env": ZOO_ENV, "n_envs": zoo["n_envs"], **zoo["hyperparams"]}


def run_one(side: str, algo: str, seed: int, max_steps: int, sets: list[str]) -> tuple[Outcome, dict[str, Any]]:
    model, env_id, settings = build_simrl(algo, seed, sets) if side == "simrl" else build_zoo(algo, seed)
    clock = SolveClock(env_id, EVAL_EVERY[algo], on_policy=algo == "ppo")
    clock.start()
    model.learn(max_steps, callback=clock, progress_bar=False)
    total = clock.train_seconds()
    step, seconds = clock.solved_at if clock.solved_at else (None, None)
    out = Outcome(
        side, algo, seed, clock.solved_at is not None,
        None if seconds is None else round(seconds, 3), step, round(total, 3),
        int(model.num_timesteps), round(clock.eval_seconds, 3), clock.evals,
    )  # fmt: skip
    del model
    gc.collect()
    return out, settings


def median(values: list[float | None]) -> float:
    return statistics.median(math.inf if v is None else v for v in values)


def fmt(x: float | None, unit: str = "") -> str:
    if x is None or math.isinf(x):
        return "unsolved"
    return f"{x:.1f}{unit}" if unit == " s" else f"{x:,.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--algos", nargs="+", choices=["ppo", "sac"], default=["ppo", "sac"])
    p.add_argument("--sides", nargs="+", choices=["simrl", "zoo"], default=["simrl", "zoo"])
    p.add_argument("--max-steps-ppo", type=int, default=200_000)
    p.add_argument("--max-steps-sac", type=int, default=20_000)
    p.add_argument(
        "--torch-threads", type=int, default=1,
        help="torch.set_num_threads for both sides; 0 keeps torch's default (one per core)",
    )  # fmt: skip
    p.add_argument("--set-ppo", action="append", default=[], metavar="KEY=VALUE", help="override simrl's preset")
    p.add_argument("--set-sac", action="append", default=[], metavar="KEY=VALUE", help="override simrl's preset")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    caps = {"ppo": args.max_steps_ppo, "sac": args.max_steps_sac}
    sets = {"ppo": args.set_ppo, "sac": args.set_sac}

    runs: list[Outcome] = []
    settings: dict[str, dict[str, Any]] = {}
    for i, seed in enumerate(args.seeds):
        for algo in args.algos:
            for side in args.sides if i % 2 == 0 else args.sides[::-1]:
                out, used = run_one(side, algo, seed, caps[algo], sets[algo])
                settings[f"{side}/{algo}"] = used
                runs.append(out)
                print(
                    f"  {side:5} {algo} seed {seed}: "
                    + (f"solved at {out.steps:,} steps, {out.seconds:.1f} s" if out.solved else "not solved")
                    + f" (ran {out.steps_done:,} steps, {out.train_seconds:.1f} s training + "
                    f"{out.eval_seconds:.1f} s evaluating, best {max(e[2] for e in out.evals):.0f})",
                    flush=True,
                )

    summary: dict[str, Any] = {}
    print(f"\nTime to a mean return >= {SOLVED:g} ({EVAL_EPISODES} deterministic episodes on fixed seeds);")
    print("training time only: the clock stops while evaluating. Medians over seeds; unsolved counts as infinite.")
    print(f"torch threads: {torch.get_num_threads()} (the simrl CLI's default is 1)")
    print(f"{'algo':5} {'side':6} {'env':18} {'solved':>7} {'median s':>9} {'median steps':>13}  per seed (s)")
    for algo in args.algos:
        row: dict[str, Any] = {}
        for side in args.sides:
            mine = [r for r in runs if r.algo == algo and r.side == side]
            med_s, med_steps = median([r.seconds for r in mine]), median([r.steps for r in mine])
            row[side] = {
                "solved": sum(r.solved for r in mine),
                "runs": len(mine),
                "median_seconds": None if math.isinf(med_s) else med_s,
                "median_steps": None if math.isinf(med_steps) else med_steps,
            }
            env = SIMRL_ENV if side == "simrl" else ZOO_ENV
            per_seed = ", ".join(fmt(r.seconds, " s") for r in mine)
            print(
                f"{algo:5} {side:6} {env:18} {row[side]['solved']:>3}/{len(mine):<3} {fmt(med_s, ' s'):>9} "
                f"{fmt(med_steps):>13}  {per_seed}"
            )
        if {"simrl", "zoo"} <= row.keys():
            a, b = row["simrl"]["median_seconds"], row["zoo"]["median_seconds"]
            row["ratio_simrl_over_zoo"] = None if a is None or b is None else round(a / b, 3)
            ratio = "n/a (unsolved)" if row["ratio_simrl_over_zoo"] is None else f"{a / b:.2f}x"
            print(f"{algo:5} simrl/zoo time ratio: {ratio}")
        summary[algo] = row

    report = {
        "benchmark": "time_to_solve",
        "threshold": SOLVED,
        "protocol": {
            "eval_episodes": EVAL_EPISODES,
            "eval_every_steps": {a: EVAL_EVERY[a] for a in args.algos},
            "deterministic": True,
            "clock": "training time only, stopped while evaluating",
            "ppo_eval_at": "first update boundary at or after each multiple of eval_every_steps",
        },
        "seeds": args.seeds,
        "max_steps": {a: caps[a] for a in args.algos},
        "torch_threads": torch.get_num_threads(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "settings": settings,
        "summary": summary,
        "runs": [asdict(r) for r in runs],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
