"""Gymnasium's MuJoCo tasks through every workflow: train, resume (bit for bit), eval, record, the grid."""

from __future__ import annotations

import json

import imageio.v2 as imageio
import numpy as np
import pytest
import yaml

from .conftest import FAST_SAC
from .test_bad_input import _unfinished_copy
from .test_resume import assert_same_model

IDS = ["Hopper-v5", "HalfCheetah-v5", "Ant-v5", "Walker2d-v5", "Reacher-v5", "InvertedPendulum-v5"]
# One parameter per task that acts on it, fixed in training.
PARAM = {
    "Hopper-v5": "torso_mass_scale=1.2",
    "HalfCheetah-v5": "friction_scale=0.8",
    "Ant-v5": "gear_scale=0.9",
    "Walker2d-v5": "gravity_scale=1.1",
    "Reacher-v5": "damping_scale=1.5",
    "InvertedPendulum-v5": "pole_mass_scale=1.3",
}
# A constructor argument of each task, set apart for training and evaluation.
KWARG = {env_id: "reset_noise_scale" for env_id in IDS} | {"Reacher-v5": "reward_control_weight"}
SMALL_FRAMES = ["--env-kwarg", "width=64", "--env-kwarg", "height=64"]
# Short episodes (gymnasium.make's own argument) keep every evaluation cheap.
SHORT = ["--env-kwarg", "max_episode_steps=60"]


@pytest.mark.parametrize("env_id", IDS)
def test_train_resume_eval_record(cli, tmp_path, env_id):
    r = cli(
        *["train", "sac", env_id, "--timesteps", "160", "--seed", "3", "--eval-freq", "160"],
        *["--env-kwarg", f"{KWARG[env_id]}=0.15", "--eval-env-kwarg", f"{KWARG[env_id]}=0.1", *SHORT],
        *[
            "--env-param",
            PARAM[env_id],
            "--randomize",
            "mass_scale=0.8:1.2" if env_id != "InvertedPendulum-v5" else "cart_mass_scale=0.8:1.2",
        ],
        *["--out", tmp_path, "--name", "full", *FAST_SAC, "--eval-episodes", "1"],
    )
    assert r.code == 0, r.err
    full = tmp_path / "full"
    config = yaml.safe_load((full / "config.yaml").read_text())
    assert config["env_kwargs"] == {KWARG[env_id]: 0.15, "max_episode_steps": 60}
    assert config["eval_env_kwargs"] == {KWARG[env_id]: 0.1}

    resumed = _unfinished_copy(full, tmp_path / "resumed", keep="025")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    for name in ("checkpoints/100/model.zip", "checkpoints/050/model.zip", "best_model.zip"):
        assert_same_model(full / name, resumed / name)
    with np.load(full / "evaluations.npz") as a, np.load(resumed / "evaluations.npz") as b:
        np.testing.assert_array_equal(a["results"], b["results"])

    # eval meets the evaluation env of the run: its parameters, and the eval kwargs over the training ones.
    r = cli("eval", full / "best_model.zip", "--json", "--episodes", "2")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    name, value = PARAM[env_id].split("=")
    assert report["env_id"] == env_id and report["env_params"][name] == float(value)
    assert report["env_kwargs"] == {KWARG[env_id]: 0.1, "max_episode_steps": 60}
    assert len(report["returns"]) == 2 and max(report["lengths"]) <= 60 and np.isfinite(report["mean"])

    r = cli("record", full, "--checkpoint", "final", "--out", tmp_path / "v.mp4", *SMALL_FRAMES)
    assert r.code == 0, r.err
    frames = imageio.mimread(tmp_path / "v.mp4")
    assert 5 < len(frames) <= 61 + 15 and frames[0].shape == (64, 64, 3) and np.std(frames[0]) > 1
    assert (tmp_path / "v.gif").is_file()


def test_eval_grid_and_compare_over_mujoco_parameters(cli, tmp_path):
    samples = tmp_path / "posterior.npz"  # a bank of parameter draws, as BayesSim's posterior writes them
    np.savez(
        samples, names=np.array(["torso_mass_scale", "friction_scale"]), samples=np.array([[0.7, 1.2], [1.4, 0.9]])
    )
    runs = []
    for seed in (0, 1):
        r = cli(
            *["train", "sac", "Hopper-v5", "--timesteps", "100", "--seed", seed, "--eval-freq", "100", *SHORT],
            *["--randomize-from", samples],
            *["--out", tmp_path, "--name", f"s{seed}", *FAST_SAC, "--eval-episodes", "1", "--checkpoints", "100"],
        )
        assert r.code == 0, r.err
        runs.append(tmp_path / f"s{seed}")
    r = cli(
        *["eval", runs[0], "--json", "--episodes", "1"],
        *["--grid", "torso_mass_scale=0.5:2:3", "--grid", "friction_scale=0.5:1.5:2", "--out", tmp_path / "grid"],
    )
    assert r.code == 0, r.err
    grid = json.loads(r.out)
    assert grid["axes"] == {"torso_mass_scale": [0.5, 1.25, 2.0], "friction_scale": [0.5, 1.5]}
    mean = np.array(grid["mean"])
    assert mean.shape == (3, 2) and np.isfinite(mean).all()
    assert len(np.unique(mean)) > 1  # the parameters change what happens
    assert (tmp_path / "grid" / "robustness.png").is_file()

    r = cli("report", runs[0])
    assert r.code == 0, r.err
    assert (runs[0] / "report.html").is_file()
    r = cli("compare", *runs, "--out", tmp_path / "cmp")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["groups"]


def test_ppo_with_normalization_in_subprocesses_resumes_exactly(cli, tmp_path):
    args = [
        *["train", "ppo", "InvertedPendulum-v5", "--timesteps", "256", "--seed", "2", "--n-envs", "2"],
        *["--vec-env", "subproc", "--set", "normalize=true", "--set", "n_steps=32", "--set", "batch_size=32"],
        *["--set", "policy_kwargs={net_arch: [16]}", "--eval-episodes", "1", "--eval-freq", "256", *SHORT],
        *["--out", tmp_path, "--name", "full"],
    ]
    r = cli(*args)
    assert r.code == 0, r.err
    full = tmp_path / "full"
    config = yaml.safe_load((full / "config.yaml").read_text())
    assert config["vec_env"] == "subproc" and config["hyperparams"]["normalize"] is True
    assert (full / "checkpoints" / "050" / "vecnormalize.npz").is_file()
    resumed = _unfinished_copy(full, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    assert_same_model(full / "checkpoints/100/model.zip", resumed / "checkpoints/100/model.zip")
    with (
        np.load(full / "checkpoints/100/vecnormalize.npz") as a,
        np.load(resumed / "checkpoints/100/vecnormalize.npz") as b,
    ):
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
