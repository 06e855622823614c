"""simrl tune --warm-start: a second round starts from a finished study (trials added, best tried first)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from simrl.cli import main

ENV = "simrl/Pendulum-v0"
TINY = ["--n-envs", "4", "--eval-episodes", "2", "--n-evaluations", "2", "--pruner", "none",
        "--fix", "policy_kwargs.net_arch=[16]", "--fix", "n_steps=64", "--fix", "batch_size=64",
        "--fix", "n_epochs=2"]  # fmt: skip


@pytest.fixture(scope="module")
def round1(tmp_path_factory) -> Path:
    """Round 1: 3 trials of 512 steps over gamma, learning rate and clip range."""
    out = tmp_path_factory.mktemp("rounds")
    space = out / "round1.yaml"
    space.write_text(
        "gamma: {type: float, low: 0.9, high: 0.99}\n"
        "learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}\n"
        "clip_range: {type: categorical, choices: [0.1, 0.2, 0.3]}\n"
    )
    try:
        main(["tune", "ppo", ENV, "--out", str(out), "--name", "r1", "--space", str(space), "--trials", "3",
              "--timesteps", "512", *TINY])  # fmt: skip
    except SystemExit as e:
        assert not e.code
    return out / "r1"


def _results(study: Path) -> dict:
    return json.loads((study / "results.json").read_text())


def _hyperparams(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())["hyperparams"]


@pytest.mark.slow(minutes=1)
def test_round_two_searches_the_learning_rate_alone_around_round_ones_best(cli, round1):
    r1 = _results(round1)
    best = r1["best_params"]
    assert yaml.safe_load((round1 / "space.yaml").read_text())["clip_range"]["choices"] == [0.1, 0.2, 0.3]
    lr_only = round1.parent / "lr.yaml"
    lr_only.write_text("learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}\n")
    args = ["tune", "ppo", ENV, "--out", round1.parent, "--name", "r2", "--warm-start", round1, "--space", lr_only,
            "--narrow", "2", "--trials", "2", "--timesteps", "512", *TINY]  # fmt: skip
    r = cli(*args)
    assert r.code == 0, r.err
    assert "1 of its trials added" in r.out and "fixed at r1's best" in r.out
    r2 = round1.parent / "r2"
    space = yaml.safe_load((r2 / "space.yaml").read_text())
    lr = best["learning_rate"]
    assert list(space) == ["learning_rate"]
    assert space["learning_rate"]["low"] == pytest.approx(max(1e-4, lr / 2))
    assert space["learning_rate"]["high"] == pytest.approx(min(3e-3, lr * 2))
    trials = _results(r2)["trials"]
    # round 1's best is the same experiment here (same settings and hyper-parameters): added, not retrained
    added = trials[0]
    assert added["runs"] == [f"../r1/trials/{r1['best_number']}/s0"] and added["value"] == r1["best_value"]
    assert added["added_from"] == f"r1#{r1['best_number']}" and added["duration_s"] is None
    assert f"added from r1#{r1['best_number']}" in (r2 / "report.html").read_text()
    assert [t["state"] for t in trials] == ["complete"] * 3
    assert sorted(p.name for p in (r2 / "trials").iterdir()) == ["1", "2"]
    for t in trials[1:]:  # the new trials keep round 1's best gamma and clip range and vary the learning rate
        hp = _hyperparams(r2 / t["runs"][0])
        assert hp["gamma"] == pytest.approx(best["gamma"]) and hp["clip_range"] == best["clip_range"]
        assert space["learning_rate"]["low"] <= hp["learning_rate"] <= space["learning_rate"]["high"]
        assert math.isfinite(t["value"])
    warm = _results(r2)["warm_start"]
    assert warm["study"] == "r1" and sorted(warm["fixed_at_best"]) == ["clip_range", "gamma"]
    # confirming a round compares its best (round 1's gamma and clip range kept) with the preset itself
    r = cli("confirm", r2, "--seeds", "1")
    assert r.code == 0, r.err
    tuned = _hyperparams(next((r2 / "confirm" / "tuned").iterdir()))
    default = _hyperparams(next((r2 / "confirm" / "default").iterdir()))
    assert tuned["gamma"] == pytest.approx(best["gamma"]) and default["gamma"] == 0.95  # the preset's
    assert default["n_steps"] == 64 and default["learning_rate"] == "lin_7.0e-3"  # --fix kept, lr the preset's
    # running the round again adds nothing twice and trains nothing new
    r = cli(*args)
    assert r.code == 0 and "already has 2 finished trials" in r.out and "added" not in r.out
    assert len(_results(r2)["trials"]) == 3


@pytest.mark.slow(minutes=1)
def test_a_round_with_another_budget_adds_nothing_and_tries_the_best_first(cli, round1, tmp_path):
    best = _results(round1)["best_params"]
    r = cli("tune", "ppo", ENV, "--out", tmp_path, "--name", "long", "--warm-start", round1, "--trials", "1",
            "--timesteps", "768", *TINY)  # fmt: skip
    assert r.code == 0, r.err
    assert "0 of its trials added; its best" in r.out
    trials = _results(tmp_path / "long")["trials"]
    assert len(trials) == 1 and trials[0]["runs"] == ["trials/0/s0"]
    assert trials[0]["params"]["learning_rate"] == pytest.approx(best["learning_rate"])
    assert trials[0]["params"]["clip_range"] == best["clip_range"]
    assert yaml.safe_load((tmp_path / "long" / "space.yaml").read_text()) == yaml.safe_load(
        (round1 / "space.yaml").read_text()
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--narrow", "2"], "--narrow needs --warm-start"),
        (["--warm-start", "{r1}", "--narrow", "1"], "--narrow must be greater than 1"),
        (["--warm-start", "{tmp}"], "is not a study folder"),
        (["--warm-start", "{r1}", "--name", "r1", "--out", "{r1}/.."], "is the study itself"),
    ],
)
def test_bad_warm_starts_are_one_line_and_create_nothing(cli, round1, tmp_path, args, message):
    args = [a.format(r1=round1, tmp=tmp_path) for a in args]
    out = ["--out", tmp_path / "out"] if "--out" not in args else []
    before = sorted(p.name for p in round1.parent.iterdir())
    r = cli("tune", "ppo", ENV, *out, *args, "--timesteps", "512", *TINY)
    assert r.code == 2 and r.err.startswith("simrl: error:") and message in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and sorted(p.name for p in round1.parent.iterdir()) == before


def test_warm_start_from_another_algorithm_is_refused(cli, round1, tmp_path):
    r = cli("tune", "sac", ENV, "--out", tmp_path, "--warm-start", round1, "--timesteps", "512")
    assert r.code == 2 and "tuned ppo on simrl/Pendulum-v0, not sac" in r.err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow(minutes=1)
def test_a_study_reproduces_from_its_seed_on_a_database_too(cli, tmp_path):
    def params(name: str) -> list[dict]:
        r = cli("tune", "ppo", ENV, "--out", tmp_path, "--name", name, "--trials", "2", "--sampler", "random",
                "--seed", "3", "--timesteps", "256", "--storage", f"sqlite:///{tmp_path}/{name}.db", *TINY)  # fmt: skip
        assert r.code == 0, r.err
        return [t["params"] for t in _results(tmp_path / name)["trials"]]

    first = params("a")
    assert params("b") == first and first[0] != first[1]
