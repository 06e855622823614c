"""simrl tune on PostgreSQL (a private server): four workers, one killed mid-trial, end with exactly --trials."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_tune_cli import ENV, TINY

TRIALS = 6


def _open(url: str, name: str):
    """The study as the workers see it, or None while it does not exist yet."""
    import optuna
    from optuna.storages import RDBStorage

    from simrl.experiments.hpo import engine_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    engine, kwargs = engine_url(url)
    try:
        return optuna.load_study(study_name=name, storage=RDBStorage(engine, engine_kwargs=kwargs))
    except KeyError:  # not created yet
        return None


def _stop_one_mid_trial(study_of, workers: dict[int, subprocess.Popen], folder: Path, deadline: float) -> int:
    """SIGKILL a worker in the middle of a trial; returns that trial's number.

    A worker whose trial is running with its run folder written is paused (SIGSTOP) and the trial read
    again: if it is still running it cannot finish any more and the worker is killed; if it finished in
    between, the worker goes on (SIGCONT) and the search continues. So the kill is always mid-trial.
    """
    from optuna.trial import TrialState

    study = None
    while time.monotonic() < deadline:
        study = study or study_of()
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if study else []:
            pid = (t.user_attrs.get("worker") or {}).get("pid")
            if pid not in workers or not (folder / "trials" / str(t.number) / f"s{0}" / "meta.json").is_file():
                continue
            os.kill(pid, signal.SIGSTOP)
            if study.get_trials(deepcopy=False)[t.number].state == TrialState.RUNNING:
                os.kill(pid, signal.SIGKILL)
                workers.pop(pid).wait(timeout=30)
                return t.number
            os.kill(pid, signal.SIGCONT)
        for w in workers.values():
            assert w.poll() is None, "a worker ended before any trial could be interrupted"
        time.sleep(0.1)
    raise AssertionError("no worker was mid-trial before the deadline")


@pytest.mark.slow(minutes=1)
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_four_workers_end_with_exactly_the_trials_and_a_killed_workers_trial_is_retried(postgres_url, tmp_path):
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
    from optuna.trial import TrialState

    name = "shared"
    command = [sys.executable, "-m", "simrl.cli", "tune", "ppo", ENV, "--out", str(tmp_path), "--name", name, *TINY,
               "--trials", str(TRIALS), "--pruner", "none", "--heartbeat", "1", "--storage", postgres_url]  # fmt: skip
    env = {**os.environ, "MPLBACKEND": "Agg"}
    logs = [(tmp_path / f"worker{i}.log").open("w") for i in range(4)]
    workers = {}
    for log in logs:
        p = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        workers[p.pid] = p
    folder = tmp_path / name
    try:
        killed = _stop_one_mid_trial(lambda: _open(postgres_url, name), workers, folder, time.monotonic() + 120)
        deadline = time.monotonic() + 150
        for p in workers.values():
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for p in workers.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()
    outputs = "\n".join(path.read_text() for path in sorted(tmp_path.glob("worker*.log")))
    assert all(p.returncode == 0 for p in workers.values()), outputs[-3000:]

    study = _open(postgres_url, name)
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    surplus = [t for t in trials if t.user_attrs.get("surplus")]
    failed = [t for t in trials if t.state == TrialState.FAIL and t not in surplus]
    assert len(complete) == TRIALS and not any(t.state == TrialState.PRUNED for t in trials), outputs[-3000:]
    assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
    # the killed trial ran again, once, with its parameters, and completed
    assert trials[killed] in failed
    retries = [t for t in trials if Retry.retried_trial_number(t) == killed]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE and Retry.retry_history(retries[0]) == [killed]
    assert retries[0].params == trials[killed].params and retries[0].number > killed
    # none lost or duplicated: six places (a retry's is the trial it retries), every failed trial's among them
    # (only the killed one fails, unless a loaded machine starved a live worker's heartbeat for 3 s: its
    # trial is then retried too); surplus trials trained nothing
    places = {t.system_attrs.get("failed_trial", t.number) for t in complete}
    assert len(places) == TRIALS and {t.system_attrs.get("failed_trial", t.number) for t in failed} <= places
    assert len({json.dumps(t.params, sort_keys=True) for t in complete}) == TRIALS  # workers sample apart
    for t in surplus:
        assert t.state == TrialState.FAIL and not (folder / "trials" / str(t.number)).exists()
    for t in complete:
        assert t.user_attrs["runs"] == [f"trials/{t.number}/s0"]
        assert json.loads((folder / t.user_attrs["runs"][0] / "meta.json").read_text())["status"] == "done"
    assert json.loads((folder / "trials" / str(killed) / "s0" / "meta.json").read_text())["status"] == "running"
    # results.json: the complete trials and the killed one, the retry pointing at it; surplus trials left out
    results = json.loads((folder / "results.json").read_text())
    states = {t["number"]: t["state"] for t in results["trials"]}
    assert sorted(n for n, s in states.items() if s == "complete") == sorted(t.number for t in complete)
    assert states[killed] == "fail" and not {t.number for t in surplus} & set(states)
    assert {t["number"]: t["retry_of"] for t in results["trials"]}[retries[0].number] == killed


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["no server", "no database"])
def test_a_postgres_url_that_cannot_be_opened_is_one_line_and_writes_nothing(cli, tmp_path, request, where):
    if where == "no server":
        url = f"postgresql://simrl@127.0.0.1:{_closed_port()}/simrl"
    else:
        url = request.getfixturevalue("postgres_url").rsplit("/", 1)[0] + "/nope"
    r = cli("tune", "ppo", ENV, "--out", tmp_path / "out", "--storage", url, *TINY, "--trials", "1")
    assert r.code == 2, r.err
    assert r.err.startswith(f"simrl: error: cannot open --storage '{url}'") and len(r.err.strip().splitlines()) == 1
    assert ("refused" in r.err) if where == "no server" else ('"nope" does not exist' in r.err)
    assert not (tmp_path / "out").exists()
