"""Resume: a killed run continues from its newest checkpoint and ends as an uninterrupted run would."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from .conftest import FAST_SAC
from .test_bad_input import _unfinished_copy


def policy_tensors(path: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(path) as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


def assert_same_model(a: Path, b: Path) -> None:
    ta, tb = policy_tensors(a), policy_tensors(b)
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


PPO_SMALL = [
    "--set",
    "n_steps=32",
    "--set",
    "batch_size=64",
    "--set",
    "n_epochs=2",
    "--n-envs",
    "4",
    "--set",
    "policy_kwargs={net_arch: [32, 32]}",
    "--set",
    "learning_rate=lin_1e-3",
    "--eval-episodes",
    "2",
]


@pytest.mark.parametrize(
    ("algo", "env_id", "extra"),
    [
        ("sac", "simrl/Pendulum-v0", FAST_SAC),
        ("ppo", "simrl/Pendulum-v0", PPO_SMALL),
        # pymunk worlds are rebuilt at every reset, so reseeding at a segment start is all they need.
        ("sac", "simrl/BipedStand-v0", [*FAST_SAC, "--randomize", "torso_mass=6:14"]),
        ("ppo", "simrl/CartPole-v0", [*PPO_SMALL, "--env-kwarg", "reward=alive"]),
    ],
)
def test_resume_equals_uninterrupted(cli, tmp_path, algo, env_id, extra):
    r = cli(
        "train",
        algo,
        env_id,
        "--timesteps",
        "512",
        "--seed",
        "5",
        "--out",
        tmp_path,
        "--name",
        "full",
        "--eval-freq",
        "128",
        *extra,
    )
    assert r.code == 0, r.err
    full = tmp_path / "full"
    resumed = _unfinished_copy(full, tmp_path / "resumed", keep="025")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    for name in ("checkpoints/100/model.zip", "checkpoints/050/model.zip", "best_model.zip"):
        assert_same_model(full / name, resumed / name)
    with np.load(full / "evaluations.npz") as a, np.load(resumed / "evaluations.npz") as b:
        np.testing.assert_array_equal(a["timesteps"], b["timesteps"])
        np.testing.assert_array_equal(a["results"], b["results"])
    meta = json.loads((resumed / "meta.json").read_text())
    assert meta["status"] == "done" and meta["resumes"] == 1 and meta["resumed_from"] == 25
    assert meta["timesteps_done"] == json.loads((full / "meta.json").read_text())["timesteps_done"]


@pytest.mark.slow
def test_sigkill_after_first_checkpoint_then_resume(tmp_path):
    from stable_baselines3 import SAC

    run = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "simrl.cli",
        "train",
        "sac",
        "simrl/Pendulum-v0",
        "--timesteps",
        "2000",
        "--seed",
        "2",
        "--out",
        str(tmp_path),
        "--name",
        "killed",
        "--checkpoints",
        "10,50,100",
        *FAST_SAC,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not (run / "checkpoints" / "010" / "state.json").is_file():
            assert proc.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "running" and meta["timesteps_done"] < meta["timesteps_total"]

    r = subprocess.run(
        [sys.executable, "-m", "simrl.cli", "resume", str(run)], capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "done"
    assert meta["timesteps_done"] == meta["timesteps_total"] == 2000
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    model = SAC.load(run / "checkpoints" / "100" / "model.zip", device="cpu")
    assert model.num_timesteps == 2000
    with np.load(run / "checkpoints" / "100" / "replay_buffer.npz", allow_pickle=False) as buf:
        assert buf["observations"].shape[0] == 2000


def test_resume_of_a_run_killed_before_its_random_baseline(cli, sac_run, tmp_path):
    """A kill between meta.json and random_baseline.npz (before any training): resume writes the baseline."""
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.yaml", "command.txt"):
        shutil.copy(sac_run / name, run / name)
    meta = json.loads((sac_run / "meta.json").read_text())
    for key in ("random_mean_reward", "last_checkpoint", "best_mean_reward", "last_mean_reward"):
        del meta[key]
    meta.update(status="running", timesteps_done=0, finished=None)
    (run / "meta.json").write_text(json.dumps(meta))
    r = cli("resume", run)
    assert r.code == 0, r.err
    with np.load(sac_run / "random_baseline.npz") as a, np.load(run / "random_baseline.npz") as b:
        np.testing.assert_array_equal(a["results"], b["results"])
    done = json.loads((run / "meta.json").read_text())
    assert done["status"] == "done"
    assert done["random_mean_reward"] == json.loads((sac_run / "meta.json").read_text())["random_mean_reward"]
    assert_same_model(sac_run / "checkpoints/100/model.zip", run / "checkpoints/100/model.zip")


def test_training_on_parameter_samples_keeps_a_copy_and_resumes_exactly(cli, tmp_path):
    bank = tmp_path / "posterior.npz"
    rng = np.random.default_rng(0)
    np.savez(bank, names=np.array(["mass", "length"]), samples=rng.uniform([1.2, 0.7], [1.4, 0.9], size=(100, 2)))
    r = cli(
        "train",
        "ppo",
        "simrl/Pendulum-v0",
        "--timesteps",
        "512",
        "--seed",
        "1",
        "--out",
        tmp_path,
        "--name",
        "full",
        "--randomize-from",
        bank,
        *PPO_SMALL,
    )
    assert r.code == 0, r.err
    full = tmp_path / "full"
    bank.unlink()  # the run folder's own copy is what counts
    assert (full / "param_samples.npz").is_file()
    # The training env of the run draws its episodes' parameters from the bank.
    from simrl.experiments.training import build_trainer, load_run_config

    trainer = build_trainer(load_run_config(full)[0], full)
    venv = trainer.venv
    venv.reset()
    drawn = venv.venv.params[:, :2]
    samples = np.load(full / "param_samples.npz")["samples"]
    assert all(any(np.allclose(row, s) for s in samples) for row in drawn)
    assert len({tuple(r) for r in drawn}) > 1
    resumed = _unfinished_copy(full, tmp_path / "resumed", keep="050")
    assert cli("resume", resumed).code == 0
    assert_same_model(full / "checkpoints/100/model.zip", resumed / "checkpoints/100/model.zip")
