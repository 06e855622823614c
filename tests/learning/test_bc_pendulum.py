"""Behaviour cloning from 10 episodes of a SAC expert reaches 90% of its return on the pendulum.

The expert is ``pendulum_expert`` (SAC, 4,000 steps, -123 on eval's seeds); ``simrl train bc --expert``
collects its 10 deterministic episodes from ``simrl collect``'s seed and clones them into SAC's actor
(the preset: MSE, 32x32 tanh, AdamW at 1e-3, batches of 256) for 2,000 gradient steps. The score is the final
evaluation's mean, normalized between the random policy's (0) and the expert's (1) on the same seeds.

Measured with bc.yaml's pendulum network (32x32, tanh): 0.963-0.987 over BC seeds 0-9 (median 0.980); with
SAC's 64x64 ReLU actor before it, 0.974-0.999, and with experts of seeds 1 and 2 0.986-0.988 and 0.915-0.986
over BC seeds 0-4. The expert takes about 30 s of one core, the clone about 3 s.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simrl.cli import main
from simrl.data.demos import Demos, normalized_score

STEPS = 2000


def _final(run) -> float:
    with np.load(run / "evaluations.npz", allow_pickle=False) as ev:
        return float(ev["results"][-1].mean())


@pytest.mark.slow
def test_bc_from_10_expert_episodes_reaches_90_percent(tmp_path, pendulum_expert):
    expert = _final(pendulum_expert)
    random = json.loads((pendulum_expert / "meta.json").read_text())["random_mean_reward"]
    assert expert > random + 800, (expert, random)  # the expert swings up
    args = ["train", "bc", "simrl/Pendulum-v0", "--expert", str(pendulum_expert), "--demo-episodes", "10"]
    try:
        main([*args, "--timesteps", str(STEPS), "--seed", "0", "--out", str(tmp_path), "--name", "bc",
              "--eval-freq", str(STEPS), "--checkpoints", "100"])  # fmt: skip
    except SystemExit as e:
        assert not e.code
    run = tmp_path / "bc"
    assert Demos.load(run / "demos.npz").n_episodes == 10
    assert json.loads((run / "meta.json").read_text())["random_mean_reward"] == random  # the same seeds
    score = normalized_score(_final(run), expert=expert, random=random)
    assert score >= 0.9, (score, _final(run), expert, random)
