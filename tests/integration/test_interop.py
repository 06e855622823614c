"""Models cross between simrl and plain Stable-Baselines3 both ways, and simrl never runs a network
other than the one saved: a plain SB3 model is rebuilt exactly (same actions as SB3's own load) or
refused with the field and the class, and nothing in the file is executed."""

from __future__ import annotations

import base64
import importlib
import json
import os
import pickle
import sys
import zipfile

import cloudpickle
import numpy as np
import pytest
import torch.nn as nn
from stable_baselines3 import PPO, SAC

from simrl.envs import make_vec_env
from simrl.evaluation.evaluate import evaluate
from simrl.rl.io import load_model

from .test_bad_input import check_one_line_error


def _obs(n: int, dim: int, scale: float) -> np.ndarray:
    return np.random.default_rng(0).uniform(-scale, scale, size=(n, dim)).astype(np.float32)


@pytest.fixture(scope="module")
def ppo_relu(tmp_path_factory):
    """Plain SB3 PPO on CartPole-v1 with ReLU and net_arch [32, 16], trained briefly and saved."""
    model = PPO(
        "MlpPolicy",
        "CartPole-v1",
        policy_kwargs=dict(activation_fn=nn.ReLU, net_arch=[32, 16]),
        n_steps=64,
        batch_size=64,
        seed=0,
        device="cpu",
    )
    model.learn(256)
    path = tmp_path_factory.mktemp("sb3") / "ppo_relu.zip"
    model.save(path)
    return path


def test_plain_sb3_ppo_with_relu_acts_as_sb3_loads_it(ppo_relu, cli):
    sb3 = PPO.load(ppo_relu, device="cpu")
    ours = load_model(ppo_relu, make_vec_env("CartPole-v1", 1), device="cpu")
    assert [type(m) for m in ours.policy.mlp_extractor.policy_net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    obs = _obs(512, 4, 2.0)
    expected = sb3.predict(obs, deterministic=True)[0]
    np.testing.assert_array_equal(ours.predict(obs, deterministic=True)[0], expected)
    # The batch tells the networks apart: the Tanh network simrl used to rebuild acts otherwise.
    tanh = load_model(
        ppo_relu, make_vec_env("CartPole-v1", 1), hyperparams={"policy_kwargs": {"net_arch": [32, 16]}}, device="cpu"
    )
    assert (tanh.predict(obs, deterministic=True)[0] != expected).any()

    r = cli("eval", ppo_relu, "--algo", "ppo", "--env", "CartPole-v1", "--episodes", "3", "--json")
    assert r.code == 0, r.err
    np.testing.assert_array_equal(json.loads(r.out)["returns"], evaluate(sb3, "CartPole-v1", 3).returns)


def test_plain_sb3_sac_with_relu_and_separate_nets_acts_as_sb3_loads_it(tmp_path, cli):
    model = SAC(
        "MlpPolicy",
        "Pendulum-v1",
        policy_kwargs=dict(activation_fn=nn.ReLU, net_arch=dict(pi=[32, 32], qf=[16])),
        learning_starts=50,
        batch_size=32,
        seed=0,
        device="cpu",
    )
    model.learn(100)
    path = tmp_path / "sac_relu.zip"
    model.save(path)
    sb3 = SAC.load(path, device="cpu")
    ours = load_model(path, make_vec_env("Pendulum-v1", 1), device="cpu")
    assert isinstance(ours.actor.latent_pi[1], nn.ReLU)
    obs = _obs(512, 3, 1.0)
    np.testing.assert_array_equal(ours.predict(obs, deterministic=True)[0], sb3.predict(obs, deterministic=True)[0])

    r = cli("eval", path, "--env", "Pendulum-v1", "--episodes", "1", "--json")
    assert r.code == 0, r.err
    np.testing.assert_array_equal(json.loads(r.out)["returns"], evaluate(sb3, "Pendulum-v1", 1).returns)


USER_MODULE = """
import pathlib

import torch.nn as nn

pathlib.Path(__file__).with_name("imported").touch()  # proof that the module ran


class Swish(nn.SiLU):
    pass
"""


def test_custom_activation_is_refused_by_name_and_never_imported(tmp_path, monkeypatch, cli):
    (tmp_path / "simrl_user_act.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    user = importlib.import_module("simrl_user_act")
    path = tmp_path / "swish.zip"
    PPO("MlpPolicy", "CartPole-v1", policy_kwargs=dict(activation_fn=user.Swish), n_steps=64, device="cpu").save(path)
    (tmp_path / "imported").unlink()
    monkeypatch.delitem(sys.modules, "simrl_user_act")

    r = cli("eval", path, "--env", "CartPole-v1", "--episodes", "1")
    check_one_line_error(r)
    assert "policy_kwargs['activation_fn'] is simrl_user_act.Swish" in r.err
    assert not (tmp_path / "imported").exists() and "simrl_user_act" not in sys.modules

    PPO.load(path, device="cpu")  # SB3's own load imports (runs) the module
    assert (tmp_path / "imported").exists()


class Payload:
    """Unpickling this makes a folder: a stand-in for any code a file could run."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return os.makedirs, (str(self.path),)


def test_code_in_policy_kwargs_is_refused_and_never_run(ppo_relu, tmp_path, cli):
    target = tmp_path / "made"
    blob = cloudpickle.dumps({"activation_fn": Payload(target), "net_arch": [32, 16]})
    with zipfile.ZipFile(ppo_relu) as archive:
        data = json.loads(archive.read("data"))
        members = {name: archive.read(name) for name in archive.namelist() if name != "data"}
    # The readable copy beside the pickle claims ReLU; only the pickle counts, and it is refused.
    data["policy_kwargs"][":serialized:"] = base64.b64encode(blob).decode()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("data", json.dumps(data))
        for name, content in members.items():
            archive.writestr(name, content)

    r = cli("eval", bad, "--env", "CartPole-v1", "--episodes", "1")
    check_one_line_error(r)
    assert "policy_kwargs" in r.err and "REDUCE with os.makedirs" in r.err
    assert not target.exists()
    pickle.loads(blob)  # the payload is live
    assert target.is_dir()


def test_simrl_model_loads_and_keeps_training_in_plain_sb3(tmp_path, cli):
    r = cli(
        *["train", "ppo", "simrl/Pendulum-v0", "--timesteps", "256", "--set", "n_steps=64", "--set", "batch_size=64"],
        *["--eval-episodes", "1", "--out", tmp_path, "--name", "r"],
    )
    assert r.code == 0, r.err
    path = tmp_path / "r" / "checkpoints" / "100" / "model.zip"
    ours = load_model(path, make_vec_env("simrl/Pendulum-v0", 1), device="cpu")
    sb3 = PPO.load(path, env=make_vec_env("simrl/Pendulum-v0", 1), device="cpu")
    obs = _obs(256, 3, 1.0)
    np.testing.assert_array_equal(sb3.predict(obs, deterministic=True)[0], ours.predict(obs, deterministic=True)[0])
    before = sb3.num_timesteps
    assert before >= 256
    sb3.learn(128, reset_num_timesteps=False)
    assert sb3.num_timesteps >= before + 128
