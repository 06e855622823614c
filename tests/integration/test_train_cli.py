"""Every algorithm trains a few hundred steps through the CLI and writes a complete run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from simrl.rl.algos import ALGOS

# Small networks and batches: these tests check the plumbing, not learning.
SMALL = {
    "ppo": ["--set", "n_steps=64", "--set", "batch_size=64", "--set", "n_epochs=2", "--n-envs", "4"],
    "a2c": ["--set", "n_steps=16", "--n-envs", "4"],
    "sac": ["--set", "learning_starts=50", "--set", "batch_size=32"],
    "td3": ["--set", "learning_starts=50", "--set", "batch_size=32"],
    "tqc": ["--set", "learning_starts=50", "--set", "batch_size=32"],
    "crossq": ["--set", "learning_starts=50", "--set", "batch_size=32"],
}


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_every_algorithm_writes_a_complete_run_folder(cli, tmp_path, algo):
    r = cli(
        "train",
        algo,
        "simrl/Pendulum-v0",
        "--timesteps",
        "300",
        "--seed",
        "1",
        "--out",
        tmp_path,
        "--name",
        "run",
        "--eval-episodes",
        "2",
        "--set",
        "policy_kwargs={net_arch: [32, 32]}",
        *SMALL[algo],
    )
    assert r.code == 0, r.err
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "command.txt",
        "meta.json",
        "progress.csv",
        "evaluations.npz",
        "random_baseline.npz",
        "best_model.zip",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())

    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "done"
    assert meta["algo"] == algo and meta["env_id"] == "simrl/Pendulum-v0" and meta["seed"] == 1
    assert meta["timesteps_done"] == meta["timesteps_total"] >= 300
    assert {"python", "torch", "stable_baselines3", "gymnasium"} <= set(meta["versions"])

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["algo"] == algo and config["hyperparams"]["policy_kwargs"] == {"net_arch": [32, 32]}
    assert "simrl train" in (run / "command.txt").read_text()

    pcts = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert pcts[-1] == "100" and len(pcts) >= 2
    off_policy = ALGOS[algo].off_policy
    for pct in pcts:
        files = {p.name for p in (run / "checkpoints" / pct).iterdir()}
        expected = {"model.zip", "state.json", "eval.npz"} | ({"replay_buffer.npz"} if off_policy else set())
        assert files == expected

    with np.load(run / "evaluations.npz", allow_pickle=False) as ev:
        assert ev["results"].shape == (len(ev["timesteps"]), 2)
        assert ev["timesteps"][-1] == meta["timesteps_done"]
        assert np.all(np.diff(ev["timesteps"]) > 0)
    with np.load(run / "random_baseline.npz", allow_pickle=False) as rb:
        assert rb["results"].shape == (2,) and np.all(rb["results"] < 0)
    assert "trained (final)" in r.out and "random policy" in r.out


def test_model_zip_loads_with_plain_sb3(sac_run):
    from stable_baselines3 import SAC

    model = SAC.load(sac_run / "checkpoints" / "100" / "model.zip", device="cpu")
    action, _ = model.predict(np.zeros((1, 3), dtype=np.float32), deterministic=True)
    assert action.shape == (1, 1)
    assert model.num_timesteps == 400


def test_ppo_model_zip_loads_with_plain_sb3(cli, tmp_path):
    from stable_baselines3 import PPO

    r = cli(
        "train",
        "ppo",
        "simrl/Pendulum-v0",
        "--timesteps",
        "256",
        "--seed",
        "0",
        "--out",
        tmp_path,
        "--name",
        "p",
        "--eval-episodes",
        "1",
        *SMALL["ppo"],
        "--set",
        "learning_rate=lin_1e-3",
    )
    assert r.code == 0, r.err
    model = PPO.load(tmp_path / "p" / "best_model.zip", device="cpu")
    assert model.predict(np.zeros((2, 3), dtype=np.float32))[0].shape == (2, 1)


def test_eval_json_reports_trained_and_random_on_same_seeds(cli, sac_run):
    r = cli("eval", sac_run, "--json", "--episodes", "3")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert len(report["returns"]) == 3
    assert report["mean"] == pytest.approx(np.mean(report["returns"]))
    assert set(report) >= {"mean", "std", "returns", "random_mean"}
    again = json.loads(cli("eval", sac_run, "--json", "--episodes", "3").out)
    assert again["returns"] == report["returns"]  # fixed seeds, deterministic policy


def test_eval_on_another_system_changes_the_result(cli, sac_run):
    base = json.loads(cli("eval", sac_run, "--json", "--episodes", "3").out)
    other = cli("eval", sac_run, "--json", "--episodes", "3", "--env-param", "mass=1.5", "--env-param", "length=1.5")
    assert other.code == 0, other.err
    other = json.loads(other.out)
    assert other["env_params"]["mass"] == 1.5 and other["env_params"]["length"] == 1.5
    assert other["returns"] != base["returns"]


def test_eval_of_a_model_zip_with_env(cli, sac_run):
    r = cli("eval", sac_run / "checkpoints" / "050" / "model.zip", "--env", "simrl/Pendulum-v0", "--episodes", "2")
    assert r.code == 0, r.err
    assert "trained" in r.out and "random" in r.out


def test_envs_lists_the_pendulum_with_its_parameters(cli):
    r = cli("envs")
    assert r.code == 0, r.err
    assert "simrl/Pendulum-v0" in r.out
    for name in ("mass", "length", "gravity"):
        assert name in r.out
    for env_id in ("simrl/CartPole-v0", "simrl/BipedStand-v0", "simrl/BallBalance-v0"):
        assert env_id in r.out
    for text in ("pole_length", "ball_radius", "motor_strength", "shaped", "alive"):
        assert text in r.out


def test_presets_precede_hyperparams_file_precedes_set(cli, tmp_path):
    hp = tmp_path / "hp.yaml"
    hp.write_text("simrl/Pendulum-v0:\n  gamma: 0.95\n  batch_size: 16\n")
    r = cli(
        "train",
        "sac",
        "simrl/Pendulum-v0",
        "--timesteps",
        "100",
        "--seed",
        "0",
        "--out",
        tmp_path,
        "--name",
        "r",
        "--hyperparams",
        hp,
        "--set",
        "batch_size=8",
        "--set",
        "learning_starts=200",
        "--eval-episodes",
        "1",
    )
    assert r.code == 0, r.err
    hp_resolved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["hyperparams"]
    assert hp_resolved["learning_rate"] == 1e-3  # preset
    assert hp_resolved["gamma"] == 0.95  # file
    assert hp_resolved["batch_size"] == 8  # --set wins over the file


def test_randomize_and_env_param_are_recorded(cli, tmp_path):
    r = cli(
        "train",
        "sac",
        "simrl/Pendulum-v0",
        "--timesteps",
        "100",
        "--seed",
        "0",
        "--out",
        tmp_path,
        "--name",
        "r",
        "--env-param",
        "gravity=9.81",
        "--randomize",
        "mass=0.5:2.0",
        "--eval-episodes",
        "1",
        "--set",
        "learning_starts=200",
    )
    assert r.code == 0, r.err
    config = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert config["env_params"] == {"gravity": 9.81}
    assert config["randomize"] == {"mass": [0.5, 2.0]}
