"""Steps per second of the pymunk tasks on one core, beside Gymnasium's CartPole-v1 in the same run.

    python bench/planar_throughput.py [--repeats 5] [--seconds 1.0] [--render-frames 50]

Each task is made with ``gymnasium.make`` (so with Gymnasium's wrappers, as training sees it) and
stepped under uniform random actions drawn before the timed loop; episodes that end are reset inside
the timing, so the cost of rebuilding the world counts. Each row is the median of ``--repeats`` runs
of ``--seconds``, taken round-robin over the rows. Targets (issue 5): >= 5,000 steps/s for the
cart-pole, >= 1,000 for the bipeds. Also times ``render()`` in rgb_array mode (frames/s). Writes
bench/results/planar_throughput.json.
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

import simrl.envs  # noqa: F401  registers the ids
from simrl.utils.atomic import write_json

RESULTS = Path(__file__).parent / "results" / "planar_throughput.json"
TARGETS = {"simrl/CartPole-v0": 5_000, "simrl/BipedStand-v0": 1_000, "simrl/BallBalance-v0": 1_000}
BASELINE = "CartPole-v1"


class Measurement:
    def __init__(self, env_id: str, rng: np.random.Generator) -> None:
        self.env_id = env_id
        self.env = gym.make(env_id)
        self.env.reset(seed=0)
        space = self.env.action_space
        self.actions = (
            [space.sample() for _ in range(2000)]
            if env_id == BASELINE
            else list(rng.uniform(-1, 1, size=(2000, *space.shape)).astype(np.float32))
        )
        self.rates: list[float] = []
        self.episodes = 0

    def run(self, seconds: float) -> None:
        env, steps, start = self.env, 0, time.perf_counter()
        while True:
            for a in self.actions:
                _, _, term, trunc, _ = env.step(a)
                if term or trunc:
                    env.reset()
                    self.episodes += 1
            steps += len(self.actions)
            if (elapsed := time.perf_counter() - start) >= seconds:
                break
        self.rates.append(steps / elapsed)


def render_rate(env_id: str, frames: int) -> float:
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    env.render()  # pygame's first-call setup
    start = time.perf_counter()
    for _ in range(frames):
        env.step(env.action_space.sample())
        env.render()
    return frames / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per row (median reported)")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--render-frames", type=int, default=50, help="frames for the render timing (0: skip)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = [Measurement(env_id, rng) for env_id in (BASELINE, *TARGETS)]
    for _ in range(args.repeats):  # round-robin: a change in load hits every row alike
        for row in rows:
            row.run(args.seconds)

    base = statistics.median(rows[0].rates)
    results = []
    print(
        f"{'env':<24} {'steps/s (median)':>17} {'min':>9} {'max':>9} {'target':>8} "
        f"{'x CartPole-v1':>14} {'frames/s':>9}"
    )
    for row in rows:
        median = statistics.median(row.rates)
        target = TARGETS.get(row.env_id)
        fps = render_rate(row.env_id, args.render_frames) if args.render_frames and target else None
        results.append(
            {
                "env": row.env_id,
                "median": median,
                "rates": row.rates,
                "ratio_to_baseline": median / base,
                "target": target,
                "meets_target": None if target is None else median >= target,
                "render_frames_per_s": fps,
            }
        )
        print(
            f"{row.env_id:<24} {median:>17,.0f} {min(row.rates):>9,.0f} {max(row.rates):>9,.0f} "
            f"{target or '':>8} {median / base:>13.2f}x {'' if fps is None else f'{fps:,.0f}':>9}"
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    import pymunk

    write_json(
        args.out,
        {
            "benchmark": "planar_throughput",
            "unit": "env steps per second, one process, random actions, resets included",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "repeats": args.repeats,
            "seconds": args.seconds,
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "python": platform.python_version(),
                "gymnasium": gym.__version__,
                "pymunk": pymunk.version,
            },
            "baseline": results[0],
            "results": results[1:],
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
