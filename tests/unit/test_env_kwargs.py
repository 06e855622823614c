"""Env kwargs: constructor arguments beyond simulator parameters, checked before anything runs."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from simrl.envs.vec import check_env_kwargs, make_vec_env
from simrl.errors import ConfigError, EnvError
from simrl.evaluation.evaluate import RandomPolicy, evaluate, random_baseline
from simrl.evaluation.robustness import Axis, evaluate_grid
from simrl.experiments import config as cfg
from simrl.experiments.results import RunData, config_value


class _Picky(gym.Env):
    """A foreign env whose constructor raises a TypeError for a size that is not an integer."""

    def __init__(self, render_mode: str | None = None, size: int = 2) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(int(np.zeros(size).size),))
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, dtype=np.float32), 0.0, False, False, {}


def _random() -> RandomPolicy:
    return RandomPolicy(gym.spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32))


@pytest.fixture
def picky_id():
    env_id = "simrl-test/Picky-v0"
    gym.register(env_id, entry_point=_Picky, max_episode_steps=5)
    yield env_id
    del gym.registry[env_id]


def test_a_constructor_argument_is_accepted_and_returned():
    assert check_env_kwargs("Pendulum-v1", {"g": 2.0}) == {"g": 2.0}
    assert check_env_kwargs("Pendulum-v1", {}) == {}


def test_an_unknown_name_gets_a_did_you_mean_and_the_accepted_names():
    with pytest.raises(EnvError) as e:
        check_env_kwargs("Pendulum-v1", {"gg": 1.0})
    assert "'gg'" in e.value.what
    assert "did you mean 'g'" in e.value.hint and "takes: g" in e.value.hint


def test_render_mode_is_refused():
    with pytest.raises(EnvError, match="render_mode"):
        check_env_kwargs("Pendulum-v1", {"render_mode": "human"})


def test_a_simulator_parameter_points_to_env_param():
    with pytest.raises(EnvError) as e:
        check_env_kwargs("simrl/Pendulum-v0", {"mass": 2.0})
    assert "simulator parameter" in e.value.what
    assert "--env-param mass=VALUE" in e.value.hint


def test_the_batched_pendulum_takes_no_env_kwargs():
    with pytest.raises(EnvError):
        check_env_kwargs("simrl/Pendulum-v0", {"reward": "alive"})
    with pytest.raises(EnvError):
        make_vec_env("simrl/Pendulum-v0", 2, env_kwargs={"reward": "alive"})
    with pytest.raises(EnvError):
        evaluate_grid(
            _random(),
            "simrl/Pendulum-v0",
            [Axis("mass", np.array([1.0]))],
            1,
            env_kwargs={"reward": "alive"},
        )


def test_a_constructor_type_error_becomes_one_env_error(picky_id):
    assert check_env_kwargs(picky_id, {"size": 3}) == {"size": 3}
    with pytest.raises(EnvError) as e:
        check_env_kwargs(picky_id, {"size": "big"})
    assert e.value.what.startswith(f"bad env kwarg size='big' for {picky_id} (TypeError: ")
    assert "\n" not in e.value.line()


def test_a_value_the_env_only_uses_when_stepping_fails_now():
    with pytest.raises(EnvError, match="bad env kwarg g='abc' for Pendulum-v1"):
        check_env_kwargs("Pendulum-v1", {"g": "abc"})


def test_env_kwargs_reach_the_envs_and_change_the_result():
    venv = make_vec_env("Pendulum-v1", 2, env_kwargs={"g": 2.0})
    assert venv.get_attr("g") == [2.0, 2.0]
    venv.close()
    # The same random actions on the same starting states: only gravity differs.
    low = evaluate(_random(), "Pendulum-v1", 2, env_kwargs={"g": 2.0}).returns
    default = evaluate(_random(), "Pendulum-v1", 2).returns
    assert not np.allclose(low, default)
    assert len(random_baseline("Pendulum-v1", 2, env_kwargs={"g": 2.0}).returns) == 2


def test_record_episodes_takes_env_kwargs():
    pytest.importorskip("pygame")
    from simrl.evaluation.video import record_episodes

    policy = _random()
    episodes = record_episodes(policy, "Pendulum-v1", env_kwargs={"g": 2.0}, max_steps=3)
    assert episodes[0].length == 3
    with pytest.raises(EnvError, match="render_mode"):
        record_episodes(policy, "Pendulum-v1", env_kwargs={"render_mode": "human"}, max_steps=3)


def _run(env_kwargs: dict) -> RunData:
    config = cfg.TrainConfig("sac", "Pendulum-v1", 100, 0, 1, env_kwargs=env_kwargs)
    empty = np.zeros(0)
    return RunData(Path("run"), config, {}, empty, empty, empty, ())


def test_compare_groups_by_a_dotted_env_kwarg():
    assert config_value(_run({"reward": "alive"}), "env_kwargs.reward") == "alive"
    assert config_value(_run({}), "env_kwargs.reward") == "default"
    assert config_value(_run({"g": 2.0}), "env_kwargs") == "g=2.0"
    with pytest.raises(ConfigError):
        config_value(_run({}), "env_kwarg.reward")
