"""`simrl train mbpo` end to end: the ordinary run folder, exact resume, every reader, and bad input."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from simrl.cli import main

from .conftest import snapshot
from .test_bad_input import _truncate, _unfinished_copy, check_one_line_error

TINY = [
    "--set", "init_steps=100", "--set", "model_train_freq=100", "--set", "rollout_batch=64",
    "--set", "rollout_schedule=[100,300,1,3]", "--set", "updates_per_step=2", "--set", "model_retain=2",
    "--set", "model={members: 2, elites: 2, hidden: [16, 16], max_epochs: 5}",
    "--set", "sac={batch_size: 32, policy_kwargs: {net_arch: [16, 16]}}",
    "--eval-episodes", "2", "--eval-freq", "200",
]  # fmt: skip
FILES = {"model.zip", "replay_buffer.npz", "model_buffer.npz", "dynamics.pt", "state.json", "eval.npz"}


@pytest.fixture(scope="module")
def mbpo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mbpo")
    args = ["train", "mbpo", "simrl/Pendulum-v0", "--timesteps", "400", "--seed", "3", "--out", str(out)]
    try:
        main([*args, "--name", "run", *TINY])
    except SystemExit as e:
        assert not e.code
    return out / "run"


def _sac_tensors(path: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(path) as archive:
        tensors = {}
        for member in ("policy.pth", "actor.optimizer.pth", "critic.optimizer.pth"):
            blob = torch.load(io.BytesIO(archive.read(member)), weights_only=True)
            flat = blob if member == "policy.pth" else dict(enumerate(blob["state"].values()))
            for key, value in flat.items():
                if isinstance(value, dict):
                    tensors.update({f"{member}/{key}/{k}": v for k, v in value.items() if torch.is_tensor(v)})
                else:
                    tensors[f"{member}/{key}"] = value
    return tensors


def test_the_run_folder_is_the_ordinary_one(mbpo_run):
    config = yaml.safe_load((mbpo_run / "config.yaml").read_text())
    assert config["kind"] == "mbrl" and config["algo"] == "mbpo"
    assert config["hyperparams"]["model"]["hidden"] == [16, 16] and config["hyperparams"]["sac"]["batch_size"] == 32
    meta = json.loads((mbpo_run / "meta.json").read_text())
    assert meta["status"] == "done" and meta["timesteps_done"] == 400
    assert {p.name for p in (mbpo_run / "checkpoints" / "100").iterdir()} == FILES
    with np.load(mbpo_run / "checkpoints" / "100" / "model_buffer.npz", allow_pickle=False) as d:
        # fits at 100, 200, 300, 400 with lengths 1, 2, 3, 3 (no terminations): 576 rows, the newest 2 * 64 * 3 kept
        assert d["obs"].shape == (384, 3) and d["actions"].shape == (384, 1) and d["rewards"].shape == (384,)
        assert np.all(np.abs(d["actions"]) <= 1) and d["rewards"].max() <= 0
    with np.load(mbpo_run / "checkpoints" / "100" / "replay_buffer.npz", allow_pickle=False) as d:
        assert d["observations"].shape == (400, 1, 3)
    with zipfile.ZipFile(mbpo_run / "best_model.zip") as archive:
        info = json.loads(archive.read("simrl.json"))
    assert info["kind"] == "sb3" and info["algo"] == "sac" and info["learner"]["algo"] == "mbpo"
    assert info["hyperparams"]["gradient_steps"] == 2 and info["hyperparams"]["learning_starts"] == 100
    progress = (mbpo_run / "progress.csv").read_text().splitlines()[0].split(",")
    assert "mbpo/model_holdout_mse" in progress and "train/critic_loss" in progress


def test_resume_is_exact(cli, mbpo_run, tmp_path):
    resumed = _unfinished_copy(mbpo_run, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    a = _sac_tensors(mbpo_run / "checkpoints" / "100" / "model.zip")
    b = _sac_tensors(resumed / "checkpoints" / "100" / "model.zip")
    assert a.keys() == b.keys() and len(a) > 10
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=0, atol=0, msg=key)
    x = torch.load(mbpo_run / "checkpoints" / "100" / "dynamics.pt", weights_only=True)["model"]["module"]
    y = torch.load(resumed / "checkpoints" / "100" / "dynamics.pt", weights_only=True)["model"]["module"]
    for key, value in x.items():
        torch.testing.assert_close(value, y[key], rtol=0, atol=0)
    for name in ("replay_buffer.npz", "model_buffer.npz"):
        with (
            np.load(mbpo_run / "checkpoints" / "100" / name) as p,
            np.load(resumed / "checkpoints" / "100" / name) as q,
        ):
            assert p.files == q.files
            for key in p.files:
                np.testing.assert_array_equal(p[key], q[key])
    with np.load(mbpo_run / "evaluations.npz") as p, np.load(resumed / "evaluations.npz") as q:
        np.testing.assert_array_equal(p["timesteps"], q["timesteps"])
        np.testing.assert_array_equal(p["results"], q["results"])


def test_eval_record_and_report_read_it(cli, mbpo_run, tmp_path):
    r = cli("eval", mbpo_run, "--json", "--episodes", "2")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["model"].endswith("best_model.zip") and np.isfinite(report["mean"]) and report["random_mean"] < 0
    r = cli("eval", mbpo_run / "best_model.zip", "--json", "--episodes", "2", "--env-param", "mass=1.5")
    assert r.code == 0, r.err
    r = cli("eval", mbpo_run, "--model", "50", "--json", "--episodes", "1")
    assert r.code == 0, r.err
    r = cli("record", mbpo_run, "--out", tmp_path / "v.mp4")
    assert r.code == 0, r.err
    assert (tmp_path / "v.mp4").stat().st_size > 0


def test_the_policy_is_a_plain_sac_zip(mbpo_run):
    from stable_baselines3 import SAC

    model = SAC.load(mbpo_run / "best_model.zip", device="cpu")
    action, _ = model.predict(np.zeros(3, np.float32), deterministic=True)
    assert action.shape == (1,)


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["real_ratio=1.5"], "real_ratio"),
        (["rollout_batch=0"], "rollout_batch"),
        (["rollout_schedule=[10,5,1,3]"], "rollout_schedule"),
        (["rollout_batc=5"], "did you mean 'rollout_batch'"),
        (["real_ratoi=0.1"], "did you mean 'real_ratio'"),
        (["sac.batch_siz=64"], "did you mean 'batch_size'"),
        (["sac.gamma=2"], "gamma"),
        (["sac.gradient_steps=5"], "updates_per_step"),
        (["model.elites=9"], "elites"),
    ],
)
def test_bad_settings_are_one_line(cli, tmp_path, sets, words):
    args = [a for s in sets for a in ("--set", s)]
    r = cli("train", "mbpo", "simrl/Pendulum-v0", "--timesteps", "200", "--out", tmp_path, *args)
    check_one_line_error(r)
    assert words in r.err
    assert not any(tmp_path.iterdir())


def test_an_env_without_a_reward_function_needs_a_learned_reward(cli, tmp_path):
    r = cli("train", "mbpo", "Hopper-v5", "--timesteps", "200", "--out", tmp_path)
    check_one_line_error(r)
    assert "learn_reward" in r.err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["model_buffer.npz", "dynamics.pt", "replay_buffer.npz"])
def test_resume_with_a_corrupt_file_is_one_line(cli, mbpo_run, tmp_path, name):
    run = _unfinished_copy(mbpo_run, tmp_path / "run", keep="050")
    _truncate(run / "checkpoints" / "050" / name)
    before = snapshot(run)
    r = cli("resume", run)
    check_one_line_error(r)
    assert snapshot(run) == before
