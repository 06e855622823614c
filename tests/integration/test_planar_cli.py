"""The pymunk tasks through every workflow: train with a reward variant and randomization, eval, record."""

from __future__ import annotations

import json

import imageio.v2 as imageio
import yaml

from .conftest import FAST_SAC


def test_biped_trains_evaluates_and_records(cli, tmp_path):
    r = cli(
        *["train", "sac", "simrl/BipedStand-v0", "--timesteps", "300", "--seed", "0"],
        *["--env-kwarg", "reward=alive", "--randomize", "torso_mass=6:14", "--env-param", "friction=0.8"],
        *["--out", tmp_path, "--name", "r", *FAST_SAC],
    )
    assert r.code == 0, r.err
    run = tmp_path / "r"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["env_kwargs"] == {"reward": "alive"}
    assert config["randomize"] == {"torso_mass": [6.0, 14.0]} and config["env_params"] == {"friction": 0.8}

    r = cli("eval", run, "--json", "--episodes", "3")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["env_kwargs"] == {"reward": "alive"} and report["env_params"]["friction"] == 0.8
    # The alive reward is 1 per step: each return is its episode's length.
    assert report["returns"] == [float(n) for n in report["lengths"]]

    r = cli("record", run, "--out", tmp_path / "biped.mp4")
    assert r.code == 0, r.err
    frames = imageio.mimread(tmp_path / "biped.mp4")
    assert len(frames) > 10 and frames[0].shape == (320, 480, 3)
    assert (tmp_path / "biped.gif").is_file()
