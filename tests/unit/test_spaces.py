"""Search spaces for simrl tune: the YAML parser, the shipped spaces, storage URLs, stale journal trials."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import warnings

import pytest
import yaml

from simrl.errors import ConfigError
from simrl.experiments import hpo
from simrl.experiments.spaces import Param, default_space, default_space_path, parse_space, space_doc
from simrl.rl.algos import ALGOS


def test_a_space_parses_floats_ints_and_categoricals_with_plain_yaml_choices():
    space = parse_space(
        {
            "learning_rate": {"type": "float", "low": "1e-5", "high": 1e-3, "log": True},
            "n_epochs": {"type": "int", "low": 1, "high": 20},
            "policy_kwargs.net_arch": {"type": "categorical", "choices": [[64, 64], {"pi": [8], "vf": [8]}, None]},
        },
        "test",
    )
    lr, ep, arch = space.values()
    assert (lr.low, lr.high, lr.log) == (1e-5, 1e-3, True)
    assert ep.extremes() == [1, 20]
    # Optuna stores scalars: a list choice is shown as its YAML text and read back as the list.
    assert arch.labels == ("[64, 64]", "{pi: [8], vf: [8]}", None)
    assert arch.value("{pi: [8], vf: [8]}") == {"pi": [8], "vf": [8]}
    assert arch.value(None) is None
    assert arch.distribution().choices == arch.labels


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"type": "uniform", "low": 0, "high": 1}, "unknown type 'uniform'"),
        ({"type": "float", "low": 2, "high": 1}, "low 2 > high 1"),
        ({"type": "float", "low": 0, "high": 1, "log": True}, "log: true with low 0 <= 0"),
        ({"type": "categorical", "choices": []}, "non-empty list of choices"),
        ({"type": "categorical", "choices": [1, 1]}, "lists a choice twice"),
        ({"type": "int", "low": 1.5, "high": 4}, "int range but low is 1.5"),
        ({"type": "float", "low": "a", "high": 1}, "needs a number for low"),
        ({"type": "float", "low": 0, "high": 1, "lo": 3}, "unknown field(s) lo"),
        ({"low": 0, "high": 1}, "must be a mapping with a type"),
    ],
)
def test_a_bad_parameter_is_one_line_naming_it(spec, message):
    with pytest.raises(ConfigError) as e:
        parse_space({"gamma": spec}, "space.yaml")
    assert message in e.value.what and "'gamma'" in e.value.what
    assert "\n" not in e.value.line()


def _shipped() -> list[tuple[str, str]]:
    """(algo, env id) for every shipped space: the default one on the pendulum, and every env block."""
    out = []
    for algo in sorted(ALGOS):
        doc = yaml.safe_load(default_space_path(algo).read_text())
        envs = [k for k in doc if k != "default"] if "default" in doc else []
        out += [(algo, "simrl/Pendulum-v0" if "simrl/Pendulum-v0" not in envs else "Pendulum-v1")]
        out += [(algo, env) for env in envs]
    return out


@pytest.mark.parametrize("algo, env_id", _shipped())
def test_every_shipped_space_has_every_bound_accepted_by_its_algorithm(algo, env_id):
    space = default_space(algo, env_id)
    plan = hpo.prepare(hpo.StudySettings(algo, env_id, folder=None, space=space))  # type: ignore[arg-type]
    assert set(plan.space) == set(space)


def test_an_env_block_replaces_the_default_space_for_that_env():
    pendulum, other = default_space("ppo", "simrl/Pendulum-v0"), default_space("ppo", "Pendulum-v1")
    assert set(pendulum) == {"learning_rate", "gamma", "gae_lambda", "n_epochs", "clip_range"}
    assert {"n_steps", "batch_size", "policy_kwargs.net_arch"} <= set(other) and default_space("ppo") == other


def test_a_key_the_algorithm_does_not_take_or_a_bad_bound_fails_before_the_study():
    space = parse_space({"learnin_rate": {"type": "float", "low": 1e-4, "high": 1e-3}}, "s")
    with pytest.raises(ConfigError, match="unknown hyper-parameter 'learnin_rate'"):
        hpo.prepare(hpo.StudySettings("sac", "simrl/Pendulum-v0", folder=None, space=space))  # type: ignore[arg-type]
    space = parse_space({"gamma": {"type": "float", "low": 0.9, "high": 1.5}}, "s")
    with pytest.raises(ConfigError, match=r"search parameter 'gamma' = 1.5: hyper-parameter 'gamma' must lie in"):
        hpo.prepare(hpo.StudySettings("sac", "simrl/Pendulum-v0", folder=None, space=space))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url, ok",
    [
        ("sqlite:///study.db", True),
        ("postgresql://user@localhost/simrl", True),
        ("postgresql+psycopg://user:pw@127.0.0.1:5432/simrl", True),
        ("mysql://user@host/db", False),
        ("sqlite://", False),
        ("not a url", False),
        ("postgresql://host", False),
    ],
)
def test_storage_urls(url, ok):
    if ok:
        assert hpo.check_storage_url(url) == url
    else:
        with pytest.raises(ConfigError, match="--storage"):
            hpo.check_storage_url(url)


def test_a_journal_trial_whose_process_died_is_failed_and_enqueued_again(tmp_path):
    import optuna
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    study = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(tmp_path / "j"))), direction="maximize")
    gone, alive = study.ask(), study.ask()
    for t, pid in ((gone, dead.pid), (alive, os.getpid())):
        t.suggest_float("x", 0.0, 1.0)
        t.set_user_attr("worker", {"host": socket.gethostname(), "pid": pid})
    assert hpo.fail_stale_journal_trials(study) == [gone.number]
    states = {t.number: t.state for t in study.get_trials()}
    assert states[gone.number] == TrialState.FAIL and states[alive.number] == TrialState.RUNNING
    retry = study.get_trials(states=(TrialState.WAITING,))
    assert len(retry) == 1 and retry[0].params == {"x": gone.params["x"]} and "worker" not in retry[0].user_attrs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry[0]) == gone.number
    assert hpo.fail_stale_journal_trials(study) == []  # failed once: another worker's check finds nothing
    popped = study.ask()  # a worker runs the retry: the parameter comes back as it was
    assert popped.number == retry[0].number and popped.suggest_float("x", 0.0, 1.0) == gone.params["x"]


def test_a_space_round_trips_through_its_document():
    space = parse_space(
        {
            "lr": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
            "n": {"type": "int", "low": 1, "high": 9},
            "arch": {"type": "categorical", "choices": [[64, 64], {"pi": [8]}, "x"]},
        },
        "test",
    )
    assert parse_space(space_doc(space), "again") == space


def test_narrowing_keeps_inside_the_range_around_the_center():
    lr = Param("lr", "float", low=1e-5, high=1e-2, log=True)
    assert lr.narrowed(1e-3, 3).low == pytest.approx(1e-3 / 3) and lr.narrowed(1e-3, 3).high == pytest.approx(3e-3)
    assert lr.narrowed(8e-3, 3).high == 1e-2  # clipped to the range
    gamma = Param("gamma", "float", low=0.9, high=0.99)
    g = gamma.narrowed(0.95, 3)
    assert g.low == pytest.approx(0.935) and g.high == pytest.approx(0.965) and not g.log
    n = Param("n", "int", low=1, high=20).narrowed(10, 4)
    assert (n.low, n.high) == (7, 13) and isinstance(n.low, int)
    arch = Param("arch", "categorical", choices=([64], [8]))
    assert arch.narrowed([64], 3) is arch


def _trials(*specs):
    """FrozenTrials from (state, place or None, attrs) specs, numbered 0, 1, ... in order."""
    import optuna
    from optuna.trial import TrialState

    out = []
    for number, (state, place, attrs) in enumerate(specs):
        system = {"failed_trial": place, "retry_history": [place]} if place is not None else {}
        t = optuna.trial.create_trial(
            state=TrialState[state], value=1.0 if state == "COMPLETE" else None, system_attrs=system, user_attrs=attrs
        )
        t.number = number
        out.append(t)
    return out


def test_of_two_trials_started_together_the_earlier_place_runs():
    done = [("COMPLETE", None, {})] * 4
    trials = _trials(*done, ("RUNNING", None, {}), ("RUNNING", None, {}))
    assert not hpo.is_surplus(trials, 4, target=6, grace=90)
    assert not hpo.is_surplus(trials, 5, target=6, grace=90)
    trials = _trials(*done, ("PRUNED", None, {}), ("RUNNING", None, {}), ("RUNNING", None, {}))
    assert not hpo.is_surplus(trials, 5, target=6, grace=90) and hpo.is_surplus(trials, 6, target=6, grace=90)
    # trials added from another study (warm start) and surplus ones take no place
    extra = [("COMPLETE", None, {hpo.ADDED: "a#0"}), ("FAIL", None, {hpo.SURPLUS: True})]
    trials = _trials(*done, *extra, ("RUNNING", None, {}), ("RUNNING", None, {}))
    assert not hpo.is_surplus(trials, 7, target=6, grace=90)
    assert hpo.study_places(trials, 90) == (4, {0, 1, 2, 3}, {6, 7})


def test_a_retry_takes_the_place_of_the_trial_whose_worker_died():
    done = [("COMPLETE", None, {})] * 4
    # trial 4's worker died: the retry (6, place 4) runs, a new trial (5) started meanwhile is surplus
    trials = _trials(*done, ("FAIL", None, {}), ("RUNNING", None, {}), ("RUNNING", 4, {}))
    assert hpo.is_surplus(trials, 5, target=5, grace=90) and not hpo.is_surplus(trials, 6, target=5, grace=90)
    # failed a moment ago, its retry not enqueued yet: the place is still taken ...
    trials = _trials(*done, ("FAIL", None, {}), ("RUNNING", None, {}))
    assert hpo.is_surplus(trials, 5, target=5, grace=90)
    # ... unless it failed by an error, long ago, or used its retries
    for attrs, grace in (({hpo.ERROR: "ConfigError: x"}, 90), ({}, 1e-9)):
        trials = _trials(*done, ("FAIL", None, attrs), ("RUNNING", None, {}))
        assert not hpo.is_surplus(trials, 5, target=5, grace=grace)
    retries = [("FAIL", 4, {})] * 3  # trial 4 and its three retries all lost their workers
    trials = _trials(*done, ("FAIL", None, {}), *retries, ("RUNNING", None, {}))
    trials[7].system_attrs["retry_history"] = [4, 5, 6]
    assert not hpo.is_surplus(trials, 8, target=5, grace=90)
    # a place already done, or held by an earlier retry: surplus
    trials = _trials(("COMPLETE", None, {}), ("FAIL", None, {}), ("COMPLETE", 1, {}), ("RUNNING", 1, {}))
    assert hpo.is_surplus(trials, 3, target=9, grace=90)
    trials = _trials(("FAIL", None, {}), ("WAITING", 0, {}), ("RUNNING", 0, {}))
    assert hpo.is_surplus(trials, 2, target=9, grace=90) and not hpo.is_surplus(trials, 1, target=9, grace=90)
