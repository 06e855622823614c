"""Every env that reports its reward's terms in ``info`` (``reward_*``): evaluation keeps them per episode,
and they sum to the episode's return."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.envs.mujoco import MUJOCO_IDS
from simrl.evaluation.evaluate import random_baseline

PLANAR = ("simrl/CartPole-v0", "simrl/BipedStand-v0", "simrl/BipedStand-v1", "simrl/BallBalance-v0",
          "simrl/BallBalance-v1")  # fmt: skip
CASES = [
    *((env_id, {"reward": reward}) for env_id in PLANAR for reward in ("shaped", "alive")),
    ("simrl/Obstacles-v0", {}),
    *((env_id, {}) for env_id in MUJOCO_IDS),
]


@pytest.mark.parametrize(("env_id", "kwargs"), CASES, ids=[f"{e}-{k.get('reward', '')}" for e, k in CASES])
def test_evaluated_terms_sum_to_each_return(env_id, kwargs):
    ran = random_baseline(env_id, 3, env_kwargs=kwargs)
    assert ran.terms, f"{env_id} reports no reward_* terms"
    # The vec env keeps rewards in float32; the terms are summed in float64.
    np.testing.assert_allclose(sum(ran.terms.values()), ran.returns, rtol=1e-5, atol=1e-3)
    if kwargs.get("reward") == "alive":
        assert list(ran.terms) == ["reward_alive"]


def test_envs_without_terms_keep_none():
    ran = random_baseline("simrl/Pendulum-v0", 2)
    assert ran.info == {} and ran.returns.shape == (2,)
