"""Configuration: precedence, parsing of CLI assignments, checkpoint schedule."""

from __future__ import annotations

import pytest

from simrl.errors import ConfigError, EnvError
from simrl.experiments import config as cfg
from simrl.experiments.training import schedule
from simrl.rl.algos import build_kwargs


def test_preset_gives_defaults_for_the_env():
    c = cfg.resolve("ppo", "simrl/Pendulum-v0", seed=0)
    assert c.timesteps > 0 and c.n_envs > 1
    assert c.hyperparams["policy"] == "MlpPolicy"
    assert "n_timesteps" not in c.hyperparams and "n_envs" not in c.hyperparams
    assert c.eval_freq == max(1, c.timesteps // 20)


def test_cli_values_override_the_preset(tmp_path):
    hp = tmp_path / "hp.yaml"
    hp.write_text("gamma: 0.5\npolicy_kwargs:\n  net_arch: [8]\n")  # a flat file
    c = cfg.resolve(
        "sac",
        "simrl/Pendulum-v0",
        timesteps=123,
        n_envs=2,
        seed=4,
        hyperparams_file=hp,
        sets=["policy_kwargs.net_arch=[16, 16]", "tau=0.01"],
    )
    assert (c.timesteps, c.n_envs, c.seed) == (123, 2, 4)
    assert c.hyperparams["gamma"] == 0.5
    assert c.hyperparams["policy_kwargs"] == {"net_arch": [16, 16]}
    assert c.hyperparams["tau"] == 0.01


def test_config_round_trips_through_a_dict():
    c = cfg.resolve("sac", "simrl/Pendulum-v0", seed=1, randomize={"mass": [0.5, 1.5]}, env_params={"length": "1.2"})
    assert cfg.TrainConfig.from_dict(c.to_dict()) == c
    assert c.env_params == {"length": 1.2}


def test_seed_is_drawn_and_recorded_when_not_given():
    assert cfg.resolve("sac", "simrl/Pendulum-v0").seed >= 0


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3e-4", 3e-4),
        ("64", 64),
        ("true", True),
        ("[64, 64]", [64, 64]),
        ("lin_1e-3", "lin_1e-3"),
        ("{a: 1}", {"a": 1}),
    ],
)
def test_set_values_parse_as_yaml(text, value):
    assert cfg.parse_value(text) == value


def test_randomize_and_checkpoint_parsing():
    assert cfg.parse_randomize(["mass=0.5:2", "length=1:1"]) == {"mass": [0.5, 2.0], "length": [1.0, 1.0]}
    assert cfg.parse_checkpoints("50,25") == (25, 50, 100)
    for bad in (["mass=2:1"], ["mass=a:b"], ["mass"], ["mass=1"]):
        with pytest.raises(ConfigError):
            cfg.parse_randomize(bad)
    for bad in ("0", "x", "101", ""):
        with pytest.raises(ConfigError):
            cfg.parse_checkpoints(bad)


def test_resolve_rejects_unknown_things():
    with pytest.raises(ConfigError):
        cfg.resolve("sac", "simrl/Pendulum-v0", sets=["gama=0.9"])
    with pytest.raises(EnvError):
        cfg.resolve("sac", "simrl/Nope-v0")
    with pytest.raises(EnvError):
        cfg.resolve("sac", "simrl/Pendulum-v0", env_params={"mass": "9"})


def test_schedule_places_checkpoints_on_whole_units():
    total, plan = schedule(1000, 64, (25, 50, 100))
    assert total == 1024
    assert plan == [(25, 256), (50, 512), (100, 1024)]
    # Tiny runs: checkpoints that would coincide collapse onto one step, the largest percentage kept.
    assert schedule(10, 64, (25, 50, 100)) == (64, [(100, 64)])


def test_build_kwargs_turns_plain_yaml_into_sb3_objects():
    import torch.nn as nn
    from stable_baselines3.common.noise import NormalActionNoise

    kw = build_kwargs(
        "td3",
        {
            "learning_rate": "lin_1e-3",
            "policy_kwargs": {"activation_fn": "tanh"},
            "noise_type": "normal",
            "noise_std": 0.2,
            "buffer_size": 1e5,
            "train_freq": [1, "episode"],
        },
        n_actions=2,
    )
    assert kw["learning_rate"](1.0) == pytest.approx(1e-3) and kw["learning_rate"](0.5) == pytest.approx(5e-4)
    assert kw["policy_kwargs"]["activation_fn"] is nn.Tanh
    assert isinstance(kw["action_noise"], NormalActionNoise)
    assert kw["buffer_size"] == 100000 and isinstance(kw["buffer_size"], int)
    assert kw["train_freq"] == (1, "episode")
    assert "noise_type" not in kw


@pytest.mark.parametrize(
    "hp",
    [
        {"batch_size": "abc"},
        {"use_sde": 1},
        {"gamma": "high"},
        {"policy_kwargs": {"activation_fn": "sigmoid2"}},
        {"noise_type": "pink"},
    ],
)
def test_build_kwargs_rejects_bad_values(hp):
    with pytest.raises(ConfigError):
        build_kwargs("td3" if "noise_type" in hp else "sac", hp, n_actions=1)


def test_env_kwargs_parse_as_yaml_scalars():
    assert cfg.parse_env_kwargs(["reward=alive", "g=9.81", "n=3", "flag=true"]) == {
        "reward": "alive",
        "g": 9.81,
        "n": 3,
        "flag": True,
    }
    assert cfg.parse_env_kwargs(["when=2024-01-01"]) == {"when": "2024-01-01"}  # not a date: JSON must hold it
    assert cfg.parse_env_kwargs([]) == {}
    for bad in (["g"], ["=1"], ["g="]):
        with pytest.raises(ConfigError, match="--env-kwarg"):
            cfg.parse_env_kwargs(bad)


def test_resolve_checks_and_stores_env_kwargs():
    c = cfg.resolve("sac", "Pendulum-v1", seed=0, env_kwargs={"g": 2.0})
    assert c.env_kwargs == {"g": 2.0}
    assert cfg.TrainConfig.from_dict(c.to_dict()) == c
    assert cfg.resolve("sac", "Pendulum-v1", seed=0).env_kwargs == {}
    with pytest.raises(EnvError, match="gg"):
        cfg.resolve("sac", "Pendulum-v1", seed=0, env_kwargs={"gg": 2.0})


def test_a_config_from_before_env_kwargs_still_loads():
    d = cfg.resolve("sac", "simrl/Pendulum-v0", seed=0).to_dict()
    del d["env_kwargs"]
    assert cfg.TrainConfig.from_dict(d).env_kwargs == {}
    assert cfg.TrainConfig.from_dict({**d, "env_kwargs": None}).env_kwargs == {}
    with pytest.raises(ConfigError):
        cfg.TrainConfig.from_dict({**d, "env_kwargs": "reward=alive"})
