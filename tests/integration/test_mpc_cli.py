"""`simrl train mpc` end to end: the ordinary run folder, exact resume, every reader, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from simrl.cli import main

from .conftest import snapshot
from .test_bad_input import _truncate, _unfinished_copy, check_one_line_error

TINY = [
    "--set", "init_steps=100", "--set", "steps_per_fit=100", "--set", "horizon=8", "--set", "population=40",
    "--set", "elites=5", "--set", "iterations=2", "--set", "particles=4",
    "--set", "model={members: 2, elites: 2, hidden: [16, 16], max_epochs: 5}",
    "--eval-episodes", "2", "--eval-freq", "200",
]  # fmt: skip


@pytest.fixture(scope="module")
def mpc_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mpc")
    args = [
        "train",
        "mpc",
        "simrl/Pendulum-v0",
        "--timesteps",
        "400",
        "--seed",
        "3",
        "--out",
        str(out),
        "--name",
        "run",
    ]
    try:
        main([*args, *TINY])
    except SystemExit as e:
        assert not e.code
    return out / "run"


def test_the_run_folder_is_the_ordinary_one(mpc_run):
    config = yaml.safe_load((mpc_run / "config.yaml").read_text())
    assert config["kind"] == "mbrl" and config["algo"] == "mpc"
    assert config["hyperparams"]["model"]["hidden"] == [16, 16] and config["hyperparams"]["horizon"] == 8
    meta = json.loads((mpc_run / "meta.json").read_text())
    assert meta["status"] == "done" and meta["timesteps_done"] == 400
    assert {p.name for p in (mpc_run / "checkpoints" / "100").iterdir()} == {
        "model.pt",
        "dataset.npz",
        "state.json",
        "eval.npz",
        "policy.pt",
    }
    with np.load(mpc_run / "checkpoints" / "100" / "dataset.npz", allow_pickle=False) as d:
        assert d["obs"].shape == (400, 3) and d["actions"].shape == (400, 1) and d["rewards"].shape == (400,)
    blob = torch.load(mpc_run / "best_policy.pt", weights_only=True)
    assert json.loads(blob["simrl"])["kind"] == "mbrl"
    with np.load(mpc_run / "evaluations.npz") as ev:
        assert list(ev["timesteps"]) == [100, 200, 400] or 400 in ev["timesteps"]


def test_resume_is_exact(cli, mpc_run, tmp_path):
    resumed = _unfinished_copy(mpc_run, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    a = torch.load(mpc_run / "checkpoints" / "100" / "model.pt", weights_only=True)["model"]
    b = torch.load(resumed / "checkpoints" / "100" / "model.pt", weights_only=True)["model"]
    for key, value in a["module"].items():
        torch.testing.assert_close(value, b["module"][key], rtol=0, atol=0)
    with (
        np.load(mpc_run / "checkpoints" / "100" / "dataset.npz") as x,
        np.load(resumed / "checkpoints" / "100" / "dataset.npz") as y,
    ):
        np.testing.assert_array_equal(x["obs"], y["obs"])
    with np.load(mpc_run / "evaluations.npz") as x, np.load(resumed / "evaluations.npz") as y:
        np.testing.assert_array_equal(x["results"], y["results"])


def test_eval_record_and_report_read_it(cli, mpc_run, tmp_path):
    r = cli("eval", mpc_run, "--json", "--episodes", "2")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert np.isfinite(report["mean"]) and report["random_mean"] < 0
    r = cli("eval", mpc_run / "best_policy.pt", "--json", "--episodes", "2", "--env-param", "mass=1.5")
    assert r.code == 0, r.err
    r = cli("record", mpc_run, "--out", tmp_path / "v.mp4")
    assert r.code == 0, r.err
    assert (tmp_path / "v.mp4").stat().st_size > 0
    # A checkpoint's policy, as for every other learner: eval --model PCT and record --checkpoint final.
    r = cli("eval", mpc_run, "--json", "--episodes", "1", "--model", "50")
    assert r.code == 0, r.err
    assert json.loads(r.out)["episodes"] == 1
    r = cli("record", mpc_run, "--checkpoint", "final", "--out", tmp_path / "final.mp4")
    assert r.code == 0, r.err
    assert (tmp_path / "final.mp4").stat().st_size > 0


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["elites=600"], "elites"),
        (["planner=newton"], "planner"),
        (["horizon=0"], "horizon"),
        (["propagation=ts1"], "propagation"),
        (["model.elites=9"], "elites"),
        (["horizn=5"], "did you mean 'horizon'"),
        (["uncertainty_penalty=-1"], "uncertainty_penalty"),
        (["uncertainty_penalty=.inf"], "uncertainty_penalty"),
    ],
)
def test_a_planner_option_out_of_range_is_one_line(cli, tmp_path, sets, words):
    args = [a for s in sets for a in ("--set", s)]
    r = cli("train", "mpc", "simrl/Pendulum-v0", "--timesteps", "200", "--out", tmp_path, *args)
    check_one_line_error(r)
    assert words in r.err
    assert not any(tmp_path.iterdir())


def test_an_env_without_a_reward_function_needs_a_learned_reward(cli, tmp_path):
    r = cli("train", "mpc", "Hopper-v5", "--timesteps", "200", "--out", tmp_path)
    check_one_line_error(r)
    assert "learn_reward" in r.err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["model.pt", "dataset.npz"])
def test_resume_with_a_corrupt_model_file_is_one_line(cli, mpc_run, tmp_path, name):
    run = _unfinished_copy(mpc_run, tmp_path / "run", keep="050")
    _truncate(run / "checkpoints" / "050" / name)
    before = snapshot(run)
    r = cli("resume", run)
    check_one_line_error(r)
    assert snapshot(run) == before


def test_an_env_without_reward_functions_plans_with_a_learned_reward(cli, tmp_path):
    tiny = [a.replace("max_epochs: 5}", "max_epochs: 5, learn_reward: true}") for a in TINY]
    r = cli("train", "mpc", "Hopper-v5", "--timesteps", "200", "--seed", "0", "--out", tmp_path, "--name", "hop",
            "--env-kwarg", "max_episode_steps=40", *tiny)  # fmt: skip
    assert r.code == 0, r.err
    blob = torch.load(tmp_path / "hop" / "best_policy.pt", weights_only=True)
    assert blob["model"]["module"]["ensemble.weights.2"].shape[1] == 2 * (11 + 1)  # mean and logvar of obs + reward
    r = cli("eval", tmp_path / "hop", "--json", "--episodes", "2")
    assert r.code == 0, r.err
