"""Saving and loading models and replay buffers without pickles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import VecMonitor

from simrl.envs import make_vec_env
from simrl.errors import CheckpointError
from simrl.rl.algos import build_model
from simrl.rl.io import load_model, load_replay_buffer, read_model_info, save_model, save_replay_buffer

HP = {"learning_starts": 10, "batch_size": 16, "policy_kwargs": {"net_arch": [16]}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    env = VecMonitor(make_vec_env("simrl/Pendulum-v0", 2, seed=0))
    model = build_model("sac", env, HP, seed=0, device="cpu")
    model.learn(60)
    path = tmp_path_factory.mktemp("m") / "model.zip"
    save_model(model, path, {"algo": "sac", "env_id": "simrl/Pendulum-v0", "hyperparams": HP})
    return model, path


def test_round_trip_restores_weights_optimisers_and_counters(trained):
    model, path = trained
    loaded = load_model(path, make_vec_env("simrl/Pendulum-v0", 1), device="cpu", for_training=True)
    for (k, a), b in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert loaded.num_timesteps == model.num_timesteps == 60
    assert loaded._n_updates == model._n_updates > 0
    assert torch.equal(loaded.log_ent_coef, model.log_ent_coef)
    sa, sb = model.actor.optimizer.state_dict(), loaded.actor.optimizer.state_dict()
    assert torch.equal(sa["state"][0]["exp_avg"], sb["state"][0]["exp_avg"])
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def test_no_pickled_state_beyond_what_sb3_requires(trained):
    _, path = trained
    info = read_model_info(path)
    assert info["info"]["algo"] == "sac"
    assert "_last_obs" not in info["data"]


def test_replay_buffer_round_trip_and_shape_check(trained, tmp_path):
    model, _ = trained
    path = tmp_path / "rb.npz"
    save_replay_buffer(model.replay_buffer, path)
    other = build_model("sac", VecMonitor(make_vec_env("simrl/Pendulum-v0", 2)), HP, seed=1, device="cpu")
    load_replay_buffer(other.replay_buffer, path)
    n = model.replay_buffer.pos
    assert other.replay_buffer.pos == n == 30
    np.testing.assert_array_equal(other.replay_buffer.observations[:n], model.replay_buffer.observations[:n])
    np.testing.assert_array_equal(other.replay_buffer.rewards[:n], model.replay_buffer.rewards[:n])

    wrong = build_model("sac", VecMonitor(make_vec_env("simrl/Pendulum-v0", 3)), HP, seed=1, device="cpu")
    with pytest.raises(CheckpointError):
        load_replay_buffer(wrong.replay_buffer, path)


def test_replay_buffer_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "rb.npz"
    np.savez(path, header=np.array([1, 0, 10, 1]), observations=np.array([object()], dtype=object))
    model = build_model("sac", VecMonitor(make_vec_env("simrl/Pendulum-v0", 1)), HP, seed=1, device="cpu")
    with pytest.raises(CheckpointError):
        load_replay_buffer(model.replay_buffer, path)


def test_truncated_files_are_checkpoint_errors(trained, tmp_path):
    _, path = trained
    cut = tmp_path / "cut.zip"
    cut.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(CheckpointError):
        read_model_info(cut)
    with pytest.raises(CheckpointError):
        load_model(cut, make_vec_env("simrl/Pendulum-v0", 1))
