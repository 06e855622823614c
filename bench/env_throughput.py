"""Env steps per second: the batched pendulum against SB3's DummyVecEnv of 8 Gymnasium Pendulum-v1.

    python bench/env_throughput.py [--repeats 5] [--seconds 1.0] [--sizes 1 64 1024 16384]

Steps/s counts env steps (vec steps x N) through ``step_async``/``step_wait``, with actions drawn
before the timed loop. Each row is the median of ``--repeats`` timed runs of ``--seconds`` each,
taken round-robin over the rows; the ratio is against the DummyVecEnv baseline of the same run. Writes
bench/results/env_throughput.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import stable_baselines3
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from simrl.envs import make_vec_env
from simrl.utils.atomic import write_json

RESULTS = Path(__file__).parent / "results" / "env_throughput.json"
ACTION_FLOATS = 1 << 22  # pre-generated actions per measurement, cycled (16 MiB of float32)


class Measurement:
    """Timed runs of one vec env under uniform random actions drawn before any timing."""

    def __init__(self, name: str, venv: VecEnv, rng: np.random.Generator) -> None:
        self.name, self.venv, self.rates = name, venv, []
        n = venv.num_envs
        steps = max(1, min(1000, ACTION_FLOATS // n))
        self.actions = rng.uniform(-2.0, 2.0, size=(steps, n, 1)).astype(np.float32)
        venv.reset()
        for a in self.actions[:10]:  # warm-up: first-call allocations and caches
            venv.step_async(a)
            venv.step_wait()

    def run(self, seconds: float) -> None:
        """Step for at least ``seconds``; record env steps (vec steps x N) per second."""
        steps, start = 0, time.perf_counter()
        while True:
            for a in self.actions:
                self.venv.step_async(a)
                self.venv.step_wait()
            steps += len(self.actions)
            if (elapsed := time.perf_counter() - start) >= seconds:
                break
        self.rates.append(steps * self.venv.num_envs / elapsed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median reported)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 16384], help="batch sizes N")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    baseline = DummyVecEnv([lambda: gym.make("Pendulum-v1") for _ in range(8)])
    baseline.seed(0)
    rows = [Measurement("DummyVecEnv(Pendulum-v1)", baseline, rng)]
    for n in args.sizes:
        rows.append(
            Measurement("BatchedPendulum(simrl/Pendulum-v0)", make_vec_env("simrl/Pendulum-v0", n, seed=0), rng)
        )
    # Round-robin, so that a change in the machine's load hits every row alike.
    for _ in range(args.repeats):
        for row in rows:
            row.run(args.seconds)

    base = statistics.median(rows[0].rates)
    results = []
    print(f"{'env':<36} {'N':>6} {'steps/s (median)':>17} {'min':>12} {'max':>12} {'x baseline':>11}")
    for row in rows:
        median = statistics.median(row.rates)
        n = row.venv.num_envs
        results.append({"env": row.name, "n_envs": n, "median": median, "ratio": median / base, "rates": row.rates})
        print(
            f"{row.name:<36} {n:>6} {median:>17,.0f} {min(row.rates):>12,.0f} "
            f"{max(row.rates):>12,.0f} {median / base:>10.1f}x"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(
        args.out,
        {
            "benchmark": "env_throughput",
            "unit": "env steps per second (vec steps x N)",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "repeats": args.repeats,
            "seconds": args.seconds,
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "gymnasium": gym.__version__,
                "stable_baselines3": stable_baselines3.__version__,
            },
            "baseline": results[0],
            "results": results[1:],
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
