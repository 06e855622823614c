"""`simrl train dagger` end to end: the run folder (its copies of the demonstrations and the expert, a row
per round), round 0 as `simrl train bc`, exact resume, eval and the report's DAgger section, and bad input
(one line, exit 2, nothing written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from simrl.imitation.mixing import Dataset

from .conftest import main_ok, snapshot
from .test_bad_input import _unfinished_copy, check_one_line_error
from .test_resume import assert_same_model

ENV = "simrl/Pendulum-v0"
FIT = ["--set", "check_freq=50", "--set", "batch_size=32", "--set", "policy_kwargs={net_arch: [16, 16]}",
       "--eval-episodes", "2"]  # fmt: skip
ROUND = ["--set", "episodes_per_round=2", "--set", "fit_steps=100", *FIT]
TINY = ["--demo-episodes", "1", *ROUND]
ROUNDS = 3  # 4 steps: rounds 0 (BC), 1, 2, 3; checkpoints after rounds 0, 1 and 3


@pytest.fixture(scope="module")
def dagger_run(sac_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dagger")
    main_ok("train", "dagger", ENV, "--expert", sac_run, "--set", f"rounds={ROUNDS}", "--seed", 3, "--out", out,
          "--name", "run", *TINY)  # fmt: skip
    return out / "run"


def _progress(run: Path) -> list[dict[str, str]]:
    with open(run / "progress.csv", newline="") as f:
        return [row for row in csv.DictReader(f) if row["dagger/round"]]


def test_the_run_folder_keeps_the_expert_and_logs_a_row_per_round(dagger_run, sac_run):
    config = yaml.safe_load((dagger_run / "config.yaml").read_text())
    assert (config["kind"], config["algo"], config["timesteps"]) == ("imitation", "dagger", ROUNDS + 1)
    assert (config["demos"], config["expert_policy"], config["expert"]) == (
        "demos.npz", "expert.zip", str(sac_run.resolve()),
    )  # fmt: skip
    assert (dagger_run / "expert.zip").read_bytes() == (sac_run / "best_model.zip").read_bytes()
    meta = json.loads((dagger_run / "meta.json").read_text())
    assert meta["status"] == "done" and meta["timesteps_done"] == ROUNDS + 1
    assert [c["step"] for c in meta["checkpoints"]] == [1, 2, 4]
    with np.load(dagger_run / "evaluations.npz") as ev:
        assert list(ev["timesteps"]) == [1, 2, 3, 4]  # every round evaluated
        last = ev["results"][-1]
    rows = _progress(dagger_run)
    assert [int(float(r["dagger/round"])) for r in rows] == [0, 1, 2, 3]
    np.testing.assert_allclose([float(r["dagger/beta"]) for r in rows], [1, 1 / 2, 1 / 3, 1 / 4])
    labels = [int(float(r["dagger/expert_labels"])) for r in rows]
    assert labels == [200, 600, 1000, 1400]  # one 200-step episode, then 2 episodes per round
    assert labels == [int(float(r["dagger/dataset_size"])) for r in rows]
    assert float(rows[-1]["eval/mean_reward"]) == pytest.approx(last.mean())  # the round's own evaluation
    assert all(r["dagger/expert_return"] == rows[0]["dagger/expert_return"] for r in rows)
    data = Dataset.load(dagger_run / "checkpoints/100/dataset.npz", (3,), (1,))
    np.testing.assert_array_equal(np.bincount(data.rounds), [200, 400, 400, 400])
    demos = np.load(dagger_run / "demos.npz")
    np.testing.assert_array_equal(data.obs[:200], demos["observations"])
    np.testing.assert_array_equal(data.labels[:200], demos["actions"])


def test_round_0_is_behaviour_cloning(cli, dagger_run, tmp_path):
    from stable_baselines3 import SAC

    r = cli("train", "bc", ENV, "--demos", dagger_run / "demos.npz", "--timesteps", 100, "--seed", 3,
            "--out", tmp_path, "--name", "bc", *FIT)  # fmt: skip
    assert r.code == 0, r.err
    bc = SAC.load(tmp_path / "bc" / "checkpoints/100/model.zip", device="cpu").policy.state_dict()
    dagger = SAC.load(dagger_run / "checkpoints/025/model.zip", device="cpu").policy.state_dict()
    for key, value in bc.items():
        torch.testing.assert_close(value, dagger[key], rtol=0, atol=0, msg=key)


def test_resume_is_exact(cli, dagger_run, tmp_path):
    resumed = _unfinished_copy(dagger_run, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    for name in ("checkpoints/100/model.zip", "best_model.zip"):
        assert_same_model(dagger_run / name, resumed / name)
    a, b = (torch.load(d / "checkpoints/100/dagger.pt", weights_only=True)["policy"] for d in (dagger_run, resumed))
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=0, atol=0, msg=key)
    p, q = (Dataset.load(d / "checkpoints/100/dataset.npz", (3,), (1,)) for d in (dagger_run, resumed))
    for name in ("obs", "labels", "rounds"):
        np.testing.assert_array_equal(getattr(p, name), getattr(q, name))
    state = [json.loads((d / "checkpoints/100/state.json").read_text())["trainer"] for d in (dagger_run, resumed)]
    assert state[0] == state[1]
    with np.load(dagger_run / "evaluations.npz") as p, np.load(resumed / "evaluations.npz") as q:
        np.testing.assert_array_equal(p["results"], q["results"])


def test_the_learner_can_be_ppos_policy_and_resumes_bit_for_bit(cli, sac_run, dagger_run, tmp_path):
    from stable_baselines3 import PPO

    r = cli("train", "dagger", ENV, "--expert", sac_run, "--demos", dagger_run / "demos.npz", "--as", "ppo",
            "--set", "rounds=2", "--seed", 1, "--out", tmp_path, "--name", "ppo", "--checkpoints", "50,100",
            *ROUND)  # fmt: skip
    assert r.code == 0, r.err
    run = tmp_path / "ppo"
    model = PPO.load(run / "best_model.zip", device="cpu")  # plain SB3 reads PPO's policy, as BC's
    assert model.policy.mlp_extractor.policy_net[0].out_features == 16
    assert [int(float(r["dagger/round"])) for r in _progress(run)] == [0, 1, 2]
    resumed = _unfinished_copy(run, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    assert_same_model(run / "checkpoints/100/model.zip", resumed / "checkpoints/100/model.zip")
    r = cli("eval", run, "--json", "--episodes", 1)
    assert r.code == 0, r.err


def test_from_a_demos_file_with_a_label_budget(cli, sac_run, dagger_run, tmp_path):
    demos = dagger_run / "demos.npz"
    r = cli("train", "dagger", ENV, "--expert", sac_run, "--demos", demos, "--seed", 0, "--set", "rounds=3",
            "--set", "expert_label_budget=500", "--out", tmp_path, "--name", "d", *ROUND)  # fmt: skip
    assert r.code == 0, r.err
    run = tmp_path / "d"
    assert (run / "demos.npz").read_bytes() == (dagger_run / "demos.npz").read_bytes()
    rows = _progress(run)
    assert [int(float(r["dagger/expert_labels"])) for r in rows] == [200, 500, 500]  # round 1 cut at the budget
    assert [int(float(r["dagger/stopped"])) for r in rows] == [0, 1, 1]
    assert json.loads((run / "meta.json").read_text())["timesteps_done"] == 4


@pytest.mark.slow
def test_an_mpc_planner_as_the_expert_is_kept_and_resumes_bit_for_bit(cli, tmp_path):
    """A planner draws from its own generator: the expert is loaded anew every round, so a resumed round
    asks the planner exactly what the uninterrupted one asked."""
    from .test_mpc_cli import TINY as MPC

    r = cli("train", "mpc", ENV, "--timesteps", 100, "--seed", 3, "--checkpoints", 100, "--out", tmp_path,
            "--name", "mpc", *MPC)  # fmt: skip
    assert r.code == 0, r.err
    r = cli("train", "dagger", ENV, "--expert", tmp_path / "mpc", "--set", "rounds=1", "--set", "episodes_per_round=1",
            "--demo-episodes", 1, "--checkpoints", 50, "--seed", 0, "--out", tmp_path, "--name", "run", *FIT,
            "--set", "fit_steps=50")  # fmt: skip
    assert r.code == 0, r.err
    run = tmp_path / "run"
    assert (run / "expert.pt").read_bytes() == (tmp_path / "mpc" / "best_policy.pt").read_bytes()
    resumed = _unfinished_copy(run, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    p, q = (Dataset.load(d / "checkpoints/100/dataset.npz", (3,), (1,)) for d in (run, resumed))
    assert len(p) == 400
    np.testing.assert_array_equal(p.labels, q.labels)
    assert_same_model(run / "checkpoints/100/model.zip", resumed / "checkpoints/100/model.zip")


@pytest.mark.slow
def test_eval_and_the_reports_dagger_section(cli, dagger_run):
    r = cli("eval", dagger_run, "--json")
    assert r.code == 0, r.err
    with np.load(dagger_run / "evaluations.npz") as ev:
        assert json.loads(r.out)["mean"] == pytest.approx(ev["results"].mean(axis=1).max())
    r = cli("report", dagger_run)
    assert r.code == 0, r.err
    html = (dagger_run / "report.html").read_text()
    assert ">DAgger<" in html and "expert labels" in html
    for name in ("dagger_rounds.png", "dagger_labels.png"):
        assert (dagger_run / "plots" / name).stat().st_size > 0


BAD = {
    "beta above 1": (["--set", "beta_schedule=constant", "--set", "beta=1.5"], "beta must be in [0, 1]"),
    "beta below 0": (["--set", "beta=-0.5"], "beta must be in [0, 1]"),
    "decay 0": (["--set", "beta_schedule=exponential", "--set", "decay=0"], "decay must be in (0, 1]"),
    "decay above 1": (["--set", "decay=1.2"], "decay must be in (0, 1]"),
    "an unknown schedule": (["--set", "beta_schedule=cosine"], "beta_schedule must be one of"),
    "zero rounds": (["--set", "rounds=0"], "rounds must be at least 1"),
    "zero episodes per round": (["--set", "episodes_per_round=0"], "episodes_per_round must be at least 1"),
    "an unknown refit": (["--set", "refit=warm"], "refit must be one of continue, scratch"),
    "--timesteps against the rounds": (["--timesteps", "9"], "one per round"),
}
EXPERT_BAD = {
    "an expert acting in another action space": (["--expert", "{expert}"], "acts in"),
    "a missing expert": (["--expert", "{tmp}/no-run"], "does not exist"),
    "no expert": (["--demos", "{demos}"], "needs --expert RUN"),
}


@pytest.mark.parametrize("case", sorted(BAD) + sorted(EXPERT_BAD))
def test_bad_train_dagger_input_is_one_line_and_writes_nothing(cli, sac_run, dagger_run, tmp_path, case):
    args, words = BAD.get(case) or EXPERT_BAD[case]
    if case in BAD:
        args = ["--expert", "{expert}", *args]
    env = "simrl/CartPole-v0" if "action space" in case else ENV
    fill = {"demos": dagger_run / "demos.npz", "expert": sac_run, "tmp": tmp_path}
    before, expert = snapshot(tmp_path), snapshot(sac_run)
    r = cli("train", "dagger", env, *[a.format(**fill) for a in args], "--out", tmp_path / "runs")
    assert r.code == 2, (r.code, r.err)
    check_one_line_error(r)
    assert words in r.err and "train dagger" in r.err, r.err
    assert snapshot(tmp_path) == before and snapshot(sac_run) == expert
    assert not (tmp_path / "runs").exists()
