"""Saving and loading models and replay buffers without pickles."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import cloudpickle
import numpy as np
import pytest
import torch
import torch.nn as nn
from stable_baselines3.common.vec_env import VecMonitor

from simrl.envs import make_vec_env
from simrl.errors import CheckpointError
from simrl.rl import safe_pickle
from simrl.rl.algos import POLICY_CLASSES, build_model, resolve_class
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


# ---------------------------------------------------------------------------------------------
# Models that plain SB3 wrote: pickled classes read as names, malformed members refused in one line


def _text(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def pickle_naming(module: str, name: str) -> bytes:
    """``{"activation_fn": module.name, "net_arch": [32, 16]}`` pickled by hand (protocol 2): pickling
    the class itself would import its module."""
    named = f"c{module}\n{name}\n".encode()  # GLOBAL
    return b"\x80\x02}(" + _text("activation_fn") + named + _text("net_arch") + b"](K K\x10eu."


def test_hand_made_pickle_is_what_it_claims():
    assert pickle.loads(pickle_naming("torch.nn.modules.activation", "ReLU")) == {
        "activation_fn": nn.ReLU,
        "net_arch": [32, 16],
    }


def test_safe_pickle_reads_cloudpickled_classes_as_names():
    blob = cloudpickle.dumps({"activation_fn": nn.ReLU, "net_arch": {"pi": [64], "qf": (8, 8)}, "x": 1.5})
    value = safe_pickle.read_data(blob, {"torch.nn.modules.activation.ReLU"})
    assert value == {
        "activation_fn": safe_pickle.Ref("torch.nn.modules.activation", "ReLU"),
        "net_arch": {"pi": [64], "qf": (8, 8)},
        "x": 1.5,
    }


def test_safe_pickle_refuses_names_outside_the_allow_list_without_importing(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "simrl_evil_unit.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Act: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(safe_pickle.Refused) as e:
        safe_pickle.read_data(pickle_naming("simrl_evil_unit", "Act"), {"torch.nn.modules.activation.ReLU"})
    assert e.value.name == "simrl_evil_unit.Act"
    assert not marker.exists() and "simrl_evil_unit" not in sys.modules


class _Payload:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.makedirs, (str(self.path),)


def test_safe_pickle_refuses_code_before_unpickling(tmp_path):
    target = tmp_path / "made"
    blob = cloudpickle.dumps({"activation_fn": _Payload(target)})
    with pytest.raises(safe_pickle.Refused, match=r"REDUCE with os\.makedirs"):
        safe_pickle.read_data(blob, {"os.makedirs"})  # even an allowed name is never called
    assert not target.exists()
    pickle.loads(blob)  # the payload is live: a plain unpickle runs it
    assert target.is_dir()


def test_policy_class_paths_name_the_classes():
    """A torch or SB3 release that moved one of these classes would make simrl refuse files naming it."""
    for table in POLICY_CLASSES.values():
        for path in table.values():
            cls = resolve_class(path)
            assert f"{cls.__module__}.{cls.__qualname__}" == path


def test_sb3_zip_with_optimizer_and_extractor_classes_is_rebuilt_exactly(tmp_path):
    from stable_baselines3 import SAC
    from stable_baselines3.common.torch_layers import FlattenExtractor

    kwargs = dict(
        activation_fn=nn.LeakyReLU,
        net_arch=dict(pi=[16], qf=[8, 8]),
        optimizer_class=torch.optim.RMSprop,
        optimizer_kwargs=dict(alpha=0.9),
        features_extractor_class=FlattenExtractor,
    )
    env = make_vec_env("simrl/Pendulum-v0", 1)
    sb3 = SAC("MlpPolicy", env, policy_kwargs=kwargs, learning_starts=10, batch_size=8, seed=0, device="cpu")
    sb3.learn(30)
    sb3.save(tmp_path / "sac.zip")
    loaded = load_model(tmp_path / "sac.zip", make_vec_env("simrl/Pendulum-v0", 1), device="cpu")
    assert isinstance(loaded.actor.optimizer, torch.optim.RMSprop)
    assert loaded.actor.optimizer.defaults["alpha"] == 0.9
    assert isinstance(loaded.actor.latent_pi[1], nn.LeakyReLU)
    obs = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    np.testing.assert_array_equal(sb3.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def _rewrite(src, dst, **members: bytes | str) -> None:
    """A copy of the zip ``src`` at ``dst`` with some members replaced (None: removed)."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for name in a.namelist():
            if name not in members:
                b.writestr(name, a.read(name))
        for name, content in members.items():
            if content is not None:
                b.writestr(name, content)


def _data(path) -> dict:
    with zipfile.ZipFile(path) as a:
        return json.loads(a.read("data"))


@pytest.mark.parametrize(
    "members",
    [
        {"data": "[1, 2]"},
        {"data": '"text"'},
        {"data": "3"},
        {"data": b"\xff\xfe not utf-8"},
        {"simrl.json": "[]"},
        {"simrl.json": '{"algo": "sac", "hyperparams": "big"}'},
        {"simrl.json": '{"algo": 3}'},
    ],
    ids=["data list", "data string", "data number", "data bytes", "info list", "info hyperparams", "info algo"],
)
def test_members_of_the_wrong_json_shape_are_one_line_errors(trained, tmp_path, members):
    _, path = trained
    bad = tmp_path / "bad.zip"
    _rewrite(path, bad, **members)
    with pytest.raises(CheckpointError) as e:
        read_model_info(bad)
    assert "\n" not in e.value.line()


def test_counters_of_the_wrong_type_are_refused(trained, tmp_path):
    _, path = trained
    bad = tmp_path / "bad.zip"
    _rewrite(path, bad, data=json.dumps({**_data(path), "num_timesteps": "many"}))
    with pytest.raises(CheckpointError, match="num_timesteps"):
        read_model_info(bad)


@pytest.mark.parametrize("what", ["garbage", "list", "object", "truncated"])
def test_unreadable_tensor_files_are_one_line_errors(trained, tmp_path, what):
    _, path = trained
    buf = io.BytesIO()
    torch.save([1, 2], buf)
    with zipfile.ZipFile(path) as a:
        good = a.read("policy.pth")
    marker = tmp_path / "ran"
    content = {
        "garbage": b"not a tensor file",
        "list": buf.getvalue(),
        "object": pickle.dumps(_Payload(marker)),
        "truncated": good[: len(good) // 2],
    }[what]
    bad = tmp_path / "bad.zip"
    _rewrite(path, bad, **{"policy.pth": content})
    with pytest.raises(CheckpointError, match=r"policy\.pth") as e:
        load_model(bad, make_vec_env("simrl/Pendulum-v0", 1), device="cpu")
    assert "\n" not in e.value.line()
    assert not marker.exists()


def test_foreign_policy_kwargs_that_are_not_a_pickle_are_one_line_errors(trained, tmp_path):
    _, path = trained
    data = _data(path)
    for entry in ({":type:": "<class 'dict'>", ":serialized:": "!!"}, {":serialized:": 3}):
        bad = tmp_path / "bad.zip"
        _rewrite(path, bad, data=json.dumps({**data, "policy_kwargs": entry}), **{"simrl.json": None})
        with pytest.raises(CheckpointError, match="policy_kwargs"):
            load_model(bad, make_vec_env("simrl/Pendulum-v0", 1), device="cpu")


def test_allowed_class_under_another_key_is_refused(trained, tmp_path):
    _, path = trained
    data = _data(path)
    blob = cloudpickle.dumps({"activation_fn": torch.optim.Adam, "net_arch": [16]})
    data["policy_kwargs"] = {":type:": "<class 'dict'>", ":serialized:": base64.b64encode(blob).decode()}
    bad = tmp_path / "bad.zip"
    _rewrite(path, bad, data=json.dumps(data), **{"simrl.json": None})
    with pytest.raises(CheckpointError, match=r"policy_kwargs\['activation_fn'\] holds torch\.optim\.adam\.Adam"):
        load_model(bad, make_vec_env("simrl/Pendulum-v0", 1), device="cpu")
