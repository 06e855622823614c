"""SAC seeded from 10 episodes of a SAC expert is at 90% of the expert's return from its first evaluation and
stays there while RL trains it, where SAC from scratch is far from it at the same env steps.

The expert is ``pendulum_expert`` (SAC, 4,000 steps, -123 on eval's seeds). ``simrl train seeded-sac`` with
its preset: the actor cloned for 2,000 steps, half of every batch from the demonstrations, the pull towards
the clone at 0.4 halving every 5,000 steps, SAC's entropy coefficient starting at 0.01. Scores are
evaluation means normalized between the random policy's (0) and the expert's (1) on the same seeds.

Measured (`simrl train seeded-sac simrl/Pendulum-v0 --demos D --timesteps 3000 --eval-freq 250 --seed S`, D the
same expert's 10 episodes): seeds 0-2 were at -165 to -212 at 250 steps (0.92-0.96) and at -124 to -125 at
3,000, never below -212 in between; the preset's SAC from scratch first reaches 90% (-231) after about 2,900
steps. Without the pull (recalibrate 0) RL undid the clone within 250 steps (-1,363 at 250 on seed 0).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simrl.cli import main
from simrl.data.demos import normalized_score

STEPS = 1000
EVERY = 250


def _means(run) -> np.ndarray:
    with np.load(run / "evaluations.npz", allow_pickle=False) as ev:
        return ev["results"].mean(axis=1)


def _train(*args: str) -> None:
    try:
        main([*args, "--timesteps", str(STEPS), "--seed", "0", "--eval-freq", str(EVERY), "--checkpoints", "100"])
    except SystemExit as e:
        assert not e.code


@pytest.mark.slow
def test_seeded_sac_keeps_90_percent_from_its_first_evaluation_where_sac_has_not_reached_it(tmp_path, pendulum_expert):
    with np.load(pendulum_expert / "evaluations.npz", allow_pickle=False) as ev:
        expert = float(ev["results"][-1].mean())
    random = json.loads((pendulum_expert / "meta.json").read_text())["random_mean_reward"]
    assert expert > random + 800, (expert, random)  # the expert swings up
    out = str(tmp_path)
    _train("train", "seeded-sac", "simrl/Pendulum-v0", "--expert", str(pendulum_expert), "--demo-episodes", "10",
           "--out", out, "--name", "seeded")  # fmt: skip
    _train("train", "sac", "simrl/Pendulum-v0", "--out", out, "--name", "sac")
    seeded = normalized_score(_means(tmp_path / "seeded"), expert=expert, random=random)
    scratch = normalized_score(_means(tmp_path / "sac"), expert=expert, random=random)
    assert len(seeded) == len(scratch) == STEPS // EVERY
    assert seeded.min() >= 0.9, seeded  # from 250 env steps on, and RL does not undo it
    assert scratch.max() < 0.9, scratch  # SAC from scratch has not reached it in these steps
