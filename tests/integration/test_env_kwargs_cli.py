"""Env kwargs end to end: chosen at train, remembered by the run and its models, used by eval."""

from __future__ import annotations

import json

import yaml

from simrl.rl.io import read_model_info

from .conftest import FAST_SAC


def test_env_kwargs_are_remembered_by_the_run_and_used_by_eval(cli, tmp_path):
    r = cli(
        "train",
        "sac",
        "Pendulum-v1",
        "--env-kwarg",
        "g=2.0",
        "--timesteps",
        "256",
        "--seed",
        "0",
        "--out",
        tmp_path,
        "--name",
        "r",
        *FAST_SAC,
    )
    assert r.code == 0, r.err
    run = tmp_path / "r"
    assert yaml.safe_load((run / "config.yaml").read_text())["env_kwargs"] == {"g": 2.0}
    assert read_model_info(run / "best_model.zip")["info"]["env_kwargs"] == {"g": 2.0}

    r = cli("eval", run, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["env_kwargs"] == {"g": 2.0}

    # A model.zip alone carries them too; the CLI's override them.
    r = cli("eval", run / "best_model.zip", "--json", "--episodes", "2")
    assert r.code == 0, r.err
    assert json.loads(r.out)["env_kwargs"] == {"g": 2.0}
    r = cli("eval", run, "--json", "--env-kwarg", "g=20")
    assert r.code == 0, r.err
    heavy = json.loads(r.out)
    assert heavy["env_kwargs"] == {"g": 20}
    assert heavy["returns"] != report["returns"]

    r = cli("eval", run)
    assert r.code == 0, r.err
    assert "env kwargs g=2.0" in " ".join(r.out.split())  # rich may wrap the long line
