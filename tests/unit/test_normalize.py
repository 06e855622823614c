"""The ``normalize`` hyper-parameter, the npz form of VecNormalize's statistics, and the trainer's policy."""

from __future__ import annotations

import io

import numpy as np
import pytest

from simrl.envs import make_vec_env
from simrl.errors import CheckpointError, ConfigError
from simrl.evaluation.evaluate import evaluate
from simrl.rl.algos import normalize_kwargs
from simrl.rl.normalize import Normalization, NormalizedPolicy
from simrl.rl.trainer import VECNORMALIZE, build_trainer

ENV = "simrl/Pendulum-v0"


def test_normalize_takes_the_algorithms_gamma_unless_the_mapping_gives_one():
    assert normalize_kwargs("sac", {}) is None
    assert normalize_kwargs("sac", {"normalize": False}) is None
    assert normalize_kwargs("sac", {"normalize": True}) == {"gamma": 0.99}  # SAC's default
    assert normalize_kwargs("ppo", {"normalize": True, "gamma": 0.9}) == {"gamma": 0.9}
    given = {"normalize": {"norm_reward": False, "clip_obs": 5, "gamma": 0.8}, "gamma": 0.9}
    assert normalize_kwargs("ppo", given) == {"norm_reward": False, "clip_obs": 5.0, "gamma": 0.8}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("yes", "'normalize' must be true, false or a mapping"),
        ([1], "'normalize' must be true, false or a mapping"),
        ({"norm_obs_keys": ["a"]}, "unknown hyper-parameter 'normalize.norm_obs_keys'"),
        ({"norm_obs": 1}, "'normalize.norm_obs' must be true or false"),
        ({"clip_obs": "big"}, "'normalize.clip_obs' must be a number"),
        ({"clip_obs": 0}, "'normalize.clip_obs' must lie in (0, inf)"),
        ({"epsilon": -1e-8}, "'normalize.epsilon' must lie in (0, inf)"),
        ({"gamma": 1.5}, "'normalize.gamma' must lie in [0, 1]"),
    ],
)
def test_bad_normalize_values_name_the_key(value, says):
    with pytest.raises(ConfigError) as e:
        normalize_kwargs("ppo", {"normalize": value})
    assert says in str(e.value) and "\n" not in str(e.value)


@pytest.fixture(scope="module")
def trainer():
    hp = {"normalize": True, "n_steps": 16, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [16]}}
    t = build_trainer("ppo", make_vec_env(ENV, 2, seed=0), hp, seed=0, device="cpu", info={"algo": "ppo"})
    t.learn(64, lambda step: True)
    yield t
    t.close()


def test_the_npz_copy_normalizes_exactly_as_vecnormalize(trainer):
    venv = trainer.vec_normalize
    stats = Normalization.from_bytes(trainer.normalization().to_bytes(), "test")
    obs = venv.get_original_obs() * 7  # some clipped
    np.testing.assert_array_equal(stats.normalize_obs(obs), venv.normalize_obs(obs))
    assert np.abs(stats.normalize_obs(obs)).max() == stats.clip_obs
    assert VECNORMALIZE in trainer.state_files()


def test_evaluation_reads_the_training_statistics_and_never_updates_them(trainer):
    policy = trainer.policy()
    assert isinstance(policy, NormalizedPolicy)
    before = trainer.normalization().to_bytes()
    frozen = NormalizedPolicy(trainer.model, trainer.normalization())
    a, b = evaluate(policy, ENV, 2), evaluate(frozen, ENV, 2)
    np.testing.assert_array_equal(a.returns, b.returns)
    after = trainer.normalization()
    np.testing.assert_array_equal(after.obs_mean, Normalization.from_bytes(before, "b").obs_mean)
    assert after.obs_count == Normalization.from_bytes(before, "b").obs_count
    trainer.learn(96, lambda step: True)  # the same policy object sees the statistics move on
    obs = trainer.vec_normalize.get_original_obs()
    np.testing.assert_array_equal(policy.normalizer.normalize_obs(obs), trainer.normalization().normalize_obs(obs))
    assert trainer.normalization().obs_count > after.obs_count


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize(
    "change",
    [
        {"obs_var": None},
        {"obs_var": np.array([-1.0, 1.0, 1.0])},
        {"obs_mean": np.zeros(2)},
        {"obs_count": np.array([1.0, 2.0])},
        {"ret_var": np.array(np.nan)},
        {"norm_obs": np.array(1)},
        {"gamma": np.array(3.0)},
        {"format": np.array(2)},
        {"obs_mean": np.array(["a", "b", "c"])},
    ],
)
def test_a_malformed_npz_is_refused_in_one_line(trainer, change):
    good = trainer.normalization()
    arrays = {f: np.asarray(getattr(good, f)) for f in good.__dataclass_fields__} | {"format": np.array(1)}
    arrays = {k: v for k, v in (arrays | change).items() if v is not None}
    with pytest.raises(CheckpointError) as e:
        Normalization.from_bytes(_npz(**arrays), "stats.npz")
    assert str(e.value).startswith("stats.npz") and "\n" not in str(e.value)
