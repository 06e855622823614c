"""DAgger from one expert episode reaches 95% of the expert's return within 5 rounds on the pendulum.

The expert is ``pendulum_expert`` (SAC, 4,000 steps, -123 on eval's seeds). ``simrl train dagger --expert``
collects its first deterministic episode (200 steps) and clones it (round 0: BC, the preset's fit, here
far from the expert), then runs up to 5 rounds of 5 episodes with the original's beta 1/(1 + i), every
visited state labelled by the expert. The run stops at the first round whose evaluation reaches 0.95 of the
expert's return normalized against random (0: the random policy, 1: the expert, on the same seeds).

Measured with this expert: every DAgger seed of 0-9 reached 0.95 in round 1 (0.967-0.998, median 0.99), from
BC at -0.25 to 0.15 in round 0; with the seed-1 expert (-126) seeds 0-4 reached it in round 1 (three) or 2
(two: 0.996, 1.001), BC at 0.05-0.53. The run (the collection, two rounds and their evaluations, the
expert's) takes 7-13 s of one core; the expert, shared with the BC test, about 30 s.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simrl import api
from simrl.data.demos import normalized_score

TARGET = 0.95
ROUNDS = 5


def _final(run) -> float:
    with np.load(run / "evaluations.npz", allow_pickle=False) as ev:
        return float(ev["results"][-1].mean())


@pytest.mark.slow
def test_dagger_from_one_expert_episode_reaches_95_percent_within_5_rounds(tmp_path, pendulum_expert):
    expert = _final(pendulum_expert)
    random = json.loads((pendulum_expert / "meta.json").read_text())["random_mean_reward"]
    scores: dict[int, float] = {}

    def until_reached(step: int, mean: float | None) -> bool:  # step s ends round s - 1
        if mean is not None:
            scores[step - 1] = float(normalized_score(mean, expert=expert, random=random))
        return mean is None or scores[step - 1] < TARGET

    config = api.configure(
        "dagger", "simrl/Pendulum-v0", seed=0, expert=pendulum_expert, demo_episodes=1,
        hyperparams={"rounds": ROUNDS}, checkpoints=(100,),
    )  # fmt: skip
    summary = api.start(config, out=tmp_path, name="dagger").train(until_reached)
    assert summary.random_mean == random  # the same evaluation seeds as the expert's
    assert sorted(scores) == list(range(len(scores))), scores  # every round evaluated, in order
    reached = [r for r, s in scores.items() if s >= TARGET]
    assert reached and reached[0] <= ROUNDS, scores
    assert scores[0] < TARGET, scores  # BC alone is not enough: DAgger's rounds made the difference
