"""The pymunk tasks through every workflow: train with a reward variant and randomization, eval, record."""

from __future__ import annotations

import json

import imageio.v2 as imageio
import numpy as np
import pytest
import yaml

from .conftest import FAST_SAC

MEASURES = {"metric_both_feet_down", "metric_torso_drift", "metric_upright", "metric_joint_speed"}


def test_biped_trains_evaluates_and_records(cli, tmp_path):
    r = cli(
        *["train", "sac", "simrl/BipedStand-v1", "--timesteps", "300", "--seed", "0"],
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
    assert report["info"]["reward_alive"] == report["returns"]
    assert {k for k in report["info"] if k.startswith("metric_")} == MEASURES
    assert 0.0 <= min(report["info"]["metric_both_feet_down"]) <= max(report["info"]["metric_upright"]) <= 1.0

    # Evaluated with the shaped reward, the terms sum to each return, for the policy and the random one.
    r = cli("eval", run, "--json", "--episodes", "3", "--env-kwarg", "reward=shaped")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    terms = [k for k in report["info"] if k.startswith("reward_")]
    assert terms == [f"reward_{t}" for t in ("alive", "ctrl", "drift", "feet", "height", "pose", "still", "upright")]
    assert np.allclose(np.sum([report["info"][k] for k in terms], axis=0), report["returns"], rtol=1e-5)
    assert sum(report["random_info"][k] for k in terms) == pytest.approx(report["random_mean"], rel=1e-5)
    r = cli("eval", run, "--episodes", "3", "--env-kwarg", "reward=shaped")  # the same as a table
    assert r.code == 0 and "reward_upright" in r.out and "metric_torso_drift" in r.out, r.out

    # The report shows the terms and measures of every checkpoint and of the random policy; compare, each group's.
    r = cli("report", run)
    assert r.code == 0, r.err
    page = (run / "report.html").read_text()
    assert "Reward terms and measures" in page and "measure: both_feet_down" in page and "term: alive" in page
    assert (run / "plots" / "reward_terms.png").is_file()
    r = cli("compare", run, "--out", tmp_path / "cmp")
    assert r.code == 0 and "metric_upright" in r.out, r.err
    group = json.loads((tmp_path / "cmp" / "compare.json").read_text())["groups"][0]
    final = np.load(run / "evaluations.npz")
    assert group["info"]["reward_alive"] == pytest.approx(final["reward_alive"][-1].mean())
    assert group["info"]["metric_upright"] == pytest.approx(final["metric_upright"][-1].mean())
    assert "term: alive" in (tmp_path / "cmp" / "compare.html").read_text()

    r = cli("record", run, "--out", tmp_path / "biped.mp4")
    assert r.code == 0, r.err
    frames = imageio.mimread(tmp_path / "biped.mp4")
    assert len(frames) > 10 and frames[0].shape == (320, 480, 3)
    assert (tmp_path / "biped.gif").is_file()
