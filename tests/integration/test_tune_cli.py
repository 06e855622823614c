"""simrl tune end to end: a tiny study, its outputs, best.yaml training, continuing, pruning, bad input."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import yaml

from simrl.cli import main

from .conftest import snapshot

ENV = "simrl/Pendulum-v0"
# Tiny PPO runs: 2 updates of 4 envs x 64 steps, a 16-unit network, 2 evaluation episodes.
TINY = ["--timesteps", "512", "--n-envs", "4", "--eval-episodes", "2", "--n-evaluations", "2",
        "--fix", "policy_kwargs.net_arch=[16]", "--fix", "n_steps=64", "--fix", "batch_size=64",
        "--fix", "n_epochs=2"]  # fmt: skip


def tune(cli, out: Path, *args: str):
    return cli("tune", "ppo", ENV, "--out", out, "--name", "study", *TINY, *args)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """3 trials x 2 seeds, written once for the read-only tests below."""
    out = tmp_path_factory.mktemp("tune")
    try:
        main(["tune", "ppo", ENV, "--out", str(out), "--name", "study", *TINY, "--trials", "3",
              "--seeds-per-trial", "2", "--pruner", "none"])  # fmt: skip
    except SystemExit as e:
        assert not e.code
    return out / "study"


@pytest.mark.slow(minutes=1)
def test_a_study_writes_results_trials_best_yaml_and_plots(study):
    results = json.loads((study / "results.json").read_text())
    assert [t["number"] for t in results["trials"]] == [0, 1, 2]
    assert all(t["state"] == "complete" for t in results["trials"])
    values = [t["value"] for t in results["trials"]]
    assert results["best_value"] == max(values)
    best = results["trials"][results["best_number"]]
    assert best["params"] == results["best_params"] and set(best["params"]) >= {"learning_rate", "gamma"}
    for t in results["trials"]:
        assert t["runs"] == [f"trials/{t['number']}/s0", f"trials/{t['number']}/s1"]
        for run in t["runs"]:  # ordinary run folders, done
            assert json.loads((study / run / "meta.json").read_text())["status"] == "done"
    # the trial's value is the IQM of its seeds' final evaluations (for 2 seeds: their mean)
    import numpy as np

    finals = [float(np.load(study / r / "evaluations.npz")["results"][-1].mean()) for r in best["runs"]]
    assert best["value"] == pytest.approx(sum(finals) / 2)
    rows = list(csv.DictReader((study / "trials.csv").open()))
    assert [int(r["number"]) for r in rows] == [0, 1, 2] and "learning_rate" in rows[0]
    for name in ("history", "importances", "parallel_coordinate", "slice", "intermediate_values"):
        assert (study / "plots" / f"{name}.png").stat().st_size > 1000
    assert (study / "study.journal").is_file()


@pytest.mark.slow(minutes=1)
def test_best_yaml_trains_with_simrl_train_hyperparams(cli, study, tmp_path):
    doc = yaml.safe_load((study / "best.yaml").read_text())
    best = json.loads((study / "results.json").read_text())["best_params"]
    assert list(doc) == [ENV]
    r = cli("train", "ppo", ENV, "--hyperparams", study / "best.yaml", "--timesteps", "256", "--seed", "0",
            "--eval-episodes", "1", "--out", tmp_path, "--name", "best")  # fmt: skip
    assert r.code == 0, r.err
    hp = yaml.safe_load((tmp_path / "best" / "config.yaml").read_text())["hyperparams"]
    assert hp["policy_kwargs"]["net_arch"] == [16] and hp["n_steps"] == 64
    for key, value in best.items():
        node = hp
        for part in key.split("."):
            node = node[part]
        assert node == pytest.approx(value) if isinstance(value, float) else node == value


@pytest.mark.slow(minutes=1)
def test_running_the_command_again_continues_to_the_requested_trials(cli, study, tmp_path):
    import shutil

    copy = tmp_path / "study"
    shutil.copytree(study, copy)
    r = tune(cli, tmp_path, "--trials", "4", "--seeds-per-trial", "2", "--pruner", "none")
    assert r.code == 0, r.err
    trials = json.loads((copy / "results.json").read_text())["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [(i, "complete") for i in range(4)]
    assert sorted(p.name for p in (copy / "trials").iterdir()) == ["0", "1", "2", "3"]
    before = snapshot(copy / "trials")
    r = tune(cli, tmp_path, "--trials", "4", "--seeds-per-trial", "2", "--pruner", "none")
    assert r.code == 0 and "already has 4 finished trials" in r.out
    assert snapshot(copy / "trials") == before
    r = tune(cli, tmp_path, "--trials", "5", "--seeds-per-trial", "3")
    assert r.code == 2 and "seeds_per_trial 2 -> 3" in r.err


@pytest.mark.slow(minutes=1)
def test_a_pruned_trial_stops_its_run_and_trains_no_further_seed(cli, tmp_path, monkeypatch):
    import optuna

    from simrl.experiments import hpo

    class PruneAfterFirst(optuna.pruners.BasePruner):
        """Prunes every trial but the first at its first intermediate value."""

        def prune(self, study, trial) -> bool:
            return trial.number > 0

    monkeypatch.setattr(hpo, "make_pruner", lambda name, n: PruneAfterFirst())
    r = tune(cli, tmp_path, "--trials", "2", "--seeds-per-trial", "2", "--storage", f"sqlite:///{tmp_path}/s.db")
    assert r.code == 0, r.err
    trials = json.loads((tmp_path / "study" / "results.json").read_text())["trials"]
    assert [t["state"] for t in trials] == ["complete", "pruned"]
    assert trials[1]["runs"] == ["trials/1/s0"] and not (tmp_path / "study" / "trials" / "1" / "s1").exists()
    meta = json.loads((tmp_path / "study" / "trials" / "1" / "s0" / "meta.json").read_text())
    assert meta["status"] == "stopped" and meta["stopped_at"] < meta["timesteps_total"]
    assert "optuna-dashboard sqlite:///" in r.out and not (tmp_path / "study" / "study.journal").exists()


@pytest.mark.slow(minutes=1)
def test_a_trial_is_never_pruned_at_its_last_evaluation(cli, tmp_path, monkeypatch):
    """Its training is done by then: pruning would throw away a finished trial's value and save nothing."""
    import optuna

    from simrl.experiments import hpo

    class AlwaysPrune(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return True

    monkeypatch.setattr(hpo, "make_pruner", lambda name, n: AlwaysPrune())
    r = tune(cli, tmp_path, "--trials", "1", "--seeds-per-trial", "2")  # evaluations: seed 0's 2, seed 1's 2
    assert r.code == 0, r.err
    trials = json.loads((tmp_path / "study" / "results.json").read_text())["trials"]
    assert [t["state"] for t in trials] == ["pruned"] and trials[0]["runs"] == ["trials/0/s0"]
    r = tune(cli, tmp_path, "--name", "one", "--trials", "1", "--n-evaluations", "1")
    trials = json.loads((tmp_path / "one" / "results.json").read_text())["trials"]
    assert r.code == 0 and [t["state"] for t in trials] == ["complete"]


@pytest.mark.parametrize(
    "space, args, message",
    [
        ({"gamma": {"type": "beta", "low": 0, "high": 1}}, [], "unknown type 'beta'"),
        ({"gamma": {"type": "float", "low": 0.99, "high": 0.9}}, [], "low 0.99 > high 0.9"),
        ({"learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}}, [], "log: true with low 0"),
        ({"n_epochs": {"type": "categorical", "choices": []}}, [], "non-empty list of choices"),
        ({"learnin_rate": {"type": "float", "low": 0.1, "high": 0.2}}, [], "unknown hyper-parameter 'learnin_rate'"),
        ({"gamma": {"type": "float", "low": 0.9, "high": 0.99}}, ["--fix", "gae_lambda=2"], "'gae_lambda' must lie"),
        ({"gamma": {"type": "float", "low": 0.9, "high": 0.99}}, ["--fix", "gamma"], "--fix expects KEY=VALUE"),
        ({"gamma": {"type": "float", "low": 0.9, "high": 0.99}}, ["--storage", "mysql://u@h/db"], "unsupported"),
        ({"gamma": {"type": "float", "low": 0.9, "high": 0.99}}, ["--storage", "::nonsense"], "not a database URL"),
        ({"gamma": {"type": "float", "low": 0.9, "high": 0.99}}, ["--sampler", "grid"], "unknown --sampler 'grid'"),
        ({"gamma": {"type": "float", "low": 0.9, "high": 0.99}}, ["--workers", "0"], "--workers must be at least 1"),
        ({"gamma": {"type": "float", "low": 0.9, "high": 0.99}}, ["--ray", " "], "--ray needs 'auto' or"),
    ],
)
def test_bad_spaces_fixes_and_urls_are_one_line_and_create_nothing(cli, tmp_path, space, args, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    r = cli("tune", "ppo", ENV, "--space", path, "--out", tmp_path / "out", *args)
    assert r.code == 2
    assert r.err.startswith("simrl: error:") and message in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_two_workers_of_one_study_end_with_exactly_the_trials(tmp_path, capsys):
    """--workers 2: the executor's two processes work one study, as two 'simrl tune' processes would."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    main(["tune", "ppo", ENV, "--out", str(tmp_path), "--name", "study", *TINY, "--trials", "4",
          "--pruner", "none", "--workers", "2"])  # fmt: skip
    assert "2 workers of the study on local processes" in capsys.readouterr().out
    results = json.loads((tmp_path / "study" / "results.json").read_text())
    assert sorted(t["number"] for t in results["trials"]) == [0, 1, 2, 3]
    assert all(t["state"] == "complete" for t in results["trials"])
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "study" / "study.journal")))
    trials = optuna.load_study(study_name="study", storage=storage).get_trials(deepcopy=False)
    pids = {t.user_attrs["worker"]["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids  # both workers trained trials, the command none
