"""Every command works for a learner that is not SB3, and for SB3 on a Discrete action space."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from simrl.data.demos import Demos
from simrl.experiments import kinds

from .linear_kind import LinearKind, read_policy_file
from .test_bad_input import _unfinished_copy

HILL = ["--eval-episodes", "2", "--eval-freq", "100", "--set", "rollout_steps=25"]


@pytest.fixture
def linear_kind():
    kinds.register(LinearKind())
    yield
    kinds.unregister("linear")


def _train(cli, out: Path, name: str, seed: int, *extra: str) -> Path:
    r = cli("train", "hill", "simrl/Pendulum-v0", "--timesteps", "400", "--seed", seed, "--out", out, "--name", name,
            *HILL, *extra)  # fmt: skip
    assert r.code == 0, r.err
    return out / name


@pytest.mark.slow
def test_a_non_sb3_learner_goes_through_every_command(cli, tmp_path, linear_kind):
    run = _train(cli, tmp_path, "a", 0)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["kind"] == "linear" and config["algo"] == "hill"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "done" and meta["timesteps_done"] == 400
    assert {p.name for p in (run / "checkpoints" / "100").iterdir()} == {"policy.npz", "state.json", "eval.npz"}
    assert (run / "best_policy.npz").is_file() and not (run / "best_model.zip").exists()

    # Resume from the first checkpoint ends exactly where the uninterrupted run did.
    resumed = _unfinished_copy(run, tmp_path / "resumed", keep="025")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    for name in ("checkpoints/100/policy.npz", "best_policy.npz"):
        a, b = read_policy_file(run / name)[0], read_policy_file(resumed / name)[0]
        np.testing.assert_array_equal(a.w, b.w)
        np.testing.assert_array_equal(a.b, b.b)
    with np.load(run / "evaluations.npz") as a, np.load(resumed / "evaluations.npz") as b:
        np.testing.assert_array_equal(a["results"], b["results"])

    # eval of the run folder and of its policy file, against the random policy on the same seeds.
    r = cli("eval", run, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    with np.load(run / "evaluations.npz") as ev:
        best = ev["results"].mean(axis=1).max()
    assert report["mean"] == pytest.approx(best) and report["random_mean"] < 0
    r = cli("eval", run / "best_policy.npz", "--json", "--env-param", "mass=1.5")
    assert r.code == 0, r.err
    assert json.loads(r.out)["env_params"]["mass"] == 1.5
    r = cli("collect", run, "--episodes", "2", "--out", tmp_path / "demos.npz")
    assert r.code == 0, r.err
    demos = Demos.load(tmp_path / "demos.npz", env_id="simrl/Pendulum-v0", obs_shape=(3,), act_shape=(1,))
    assert (demos.source.kind, demos.source.algo, demos.n_episodes) == ("linear", "hill", 2)
    r = cli("eval", run, "--grid", "mass=0.5:1.5:3", "--out", tmp_path / "grid")
    assert r.code == 0, r.err
    assert (tmp_path / "grid" / "robustness.csv").is_file()

    r = cli("report", run)
    assert r.code == 0, r.err
    assert (run / "report.html").is_file() and (run / "plots" / "learning_curve.png").is_file()
    r = cli("record", run, "--checkpoint", "all", "--out", tmp_path / "v.mp4")
    assert r.code == 0, r.err
    assert (tmp_path / "v.mp4").stat().st_size > 0

    other = _train(cli, tmp_path, "b", 1)
    r = cli("compare", run, other, resumed, "--out", tmp_path / "cmp")
    assert r.code == 0, r.err
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["groups"][0]["n_runs"] == 3


def test_an_unknown_kind_is_a_one_line_error(cli, tmp_path, linear_kind):
    run = _train(cli, tmp_path, "a", 0)
    kinds.unregister("linear")
    r = cli("eval", run)
    assert r.code == 2 and r.err.startswith("simrl: error:") and "kind 'linear'" in r.err
    assert len(r.err.strip().splitlines()) == 1


@pytest.mark.slow
def test_ppo_on_a_discrete_action_space_trains_resumes_evaluates_and_reports(cli, tmp_path):
    small = ["--set", "n_steps=64", "--set", "batch_size=64", "--set", "n_epochs=2", "--eval-episodes", "3"]
    r = cli("train", "ppo", "CartPole-v1", "--timesteps", "512", "--seed", "0", "--out", tmp_path, "--name", "cp",
            *small)  # fmt: skip
    assert r.code == 0, r.err
    run = tmp_path / "cp"
    assert json.loads((run / "meta.json").read_text())["status"] == "done"
    with np.load(run / "random_baseline.npz") as rb:
        assert rb["results"].shape == (3,) and (rb["results"] > 0).all()  # CartPole pays 1 per step
    resumed = _unfinished_copy(run, tmp_path / "resumed", keep="050")
    assert cli("resume", resumed).code == 0
    from .test_resume import assert_same_model

    assert_same_model(run / "checkpoints/100/model.zip", resumed / "checkpoints/100/model.zip")
    r = cli("eval", run, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["random_mean"] > 0
    r = cli("eval", run / "best_model.zip", "--json")
    assert r.code == 0, r.err
    assert cli("report", run).code == 0
    r = cli("collect", run, "--episodes", "2", "--out", tmp_path / "demos.npz")
    assert r.code == 0, r.err
    demos = Demos.load(tmp_path / "demos.npz", env_id="CartPole-v1", act_shape=())
    np.testing.assert_array_equal(demos.episode_returns, demos.episode_lengths)  # CartPole pays 1 per step
    assert demos.actions.dtype.kind == "i" and demos.terminated.sum() + demos.truncated.sum() == 2


def test_a_crash_after_the_folder_exists_marks_the_run_failed(tmp_path, monkeypatch):
    from simrl import api
    from simrl.experiments import training

    def boom(*args, **kwargs):
        raise RuntimeError("baseline exploded")

    monkeypatch.setattr(training, "random_baseline", boom)
    config = api.configure("ppo", "simrl/Pendulum-v0", timesteps=64, seed=0)
    with pytest.raises(RuntimeError):
        api.start(config, out=tmp_path, name="x")
    meta = json.loads((tmp_path / "x" / "meta.json").read_text())
    assert meta["status"] == "failed" and "baseline exploded" in meta["error"]
    # the lock was released: another process (here, this one) may take it
    from simrl.experiments.runfolder import RunFolder

    folder = RunFolder.open(tmp_path / "x")
    folder.lock()
    folder.close()


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_the_python_api_stops_resumes_and_fifty_runs_leak_nothing(tmp_path):
    from simrl import api

    settings = dict(
        timesteps=64,
        n_envs=1,
        eval_episodes=1,
        hyperparams={"n_steps": 32, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [8]}},
    )
    # A callback that returns False stops the run; the folder says so and the run resumes to the end.
    stopped = api.train("ppo", "simrl/Pendulum-v0", out=tmp_path, name="stop", seed=0, callback=lambda s, m: m is None,
                        **settings)  # fmt: skip
    assert stopped.status == "stopped" and stopped.timesteps < stopped.timesteps_total
    assert json.loads((tmp_path / "stop" / "meta.json").read_text())["status"] == "stopped"
    done = api.resume(tmp_path / "stop")
    assert done.status == "done" and done.timesteps == done.timesteps_total

    def runs(first: int, n: int) -> None:
        for i in range(first, first + n):
            summary = api.train("ppo", "simrl/Pendulum-v0", out=tmp_path, name=f"r{i}", seed=i, **settings)
            assert summary.status == "done"

    runs(0, 10)  # warm-up: imports, caches, torch's allocator
    fds, rss = _open_fds(), _rss_mb()
    runs(10, 40)
    assert _open_fds() <= fds
    assert _rss_mb() - rss < 60, f"memory grew from {rss:.0f} MB to {_rss_mb():.0f} MB over 40 runs"


def test_a_crash_during_training_marks_the_run_failed_and_releases_it(tmp_path, linear_kind):
    from simrl import api
    from simrl.experiments.runfolder import RunFolder

    def crash(step, mean):
        if step >= 100:
            raise RuntimeError("the learner blew up")

    with pytest.raises(RuntimeError):
        api.train("hill", "simrl/Pendulum-v0", timesteps=400, seed=0, eval_episodes=1, out=tmp_path, name="x",
                  hyperparams={"rollout_steps": 25}, callback=crash)  # fmt: skip
    meta = json.loads((tmp_path / "x" / "meta.json").read_text())
    assert meta["status"] == "failed" and "blew up" in meta["error"]
    folder = RunFolder.open(tmp_path / "x")
    folder.lock()  # free again
    folder.close()
    done = api.resume(tmp_path / "x")  # and resumable from its last checkpoint
    assert done.status == "done" and done.timesteps == 400
