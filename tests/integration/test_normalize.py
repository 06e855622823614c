"""``normalize`` (rl-zoo's VecNormalize): exact across resume, saved as npz in checkpoints and in model.zip,
applied (frozen) wherever a policy is loaded."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import simrl.api as api
from simrl.rl.normalize import FILE, Normalization, NormalizedPolicy, read

from .conftest import snapshot
from .test_bad_input import _truncate, _unfinished_copy, _with_members, check_one_line_error
from .test_resume import assert_same_model

ENV = "simrl/Pendulum-v0"  # its batched VecEnv (BatchedPendulum) under VecNormalize
NET = {"policy_kwargs": {"net_arch": [32, 32]}}
# (hyper-parameters, n_envs, timesteps): PPO with the defaults of ``normalize: true``; SAC (whose replay
# buffer keeps raw observations, normalized when sampled) with a mapping, its gamma taken from the algorithm.
SETTINGS = {
    "ppo": ({"normalize": True, "n_steps": 32, "batch_size": 64, "n_epochs": 2, **NET}, 4, 512),
    "sac": ({"normalize": {"clip_obs": 5.0}, "learning_starts": 50, "batch_size": 32, "gamma": 0.97, **NET}, 1, 256),
}


@pytest.fixture(scope="module", params=sorted(SETTINGS))
def runs(request, tmp_path_factory) -> tuple[str, Path, Path]:
    """An uninterrupted run, and a copy resumed from its 50% checkpoint."""
    algo = request.param
    hp, n_envs, steps = SETTINGS[algo]
    out = tmp_path_factory.mktemp(f"norm-{algo}")
    config = api.configure(
        algo, ENV, timesteps=steps, seed=3, n_envs=n_envs, hyperparams=hp, eval_freq=steps, eval_episodes=2
    )
    full = api.start(config, out=out, name="full").train().dir
    resumed = _unfinished_copy(full, out / "resumed", keep="050")
    api.resume(resumed)
    return algo, Path(full), resumed


def stats_of(path: Path) -> Normalization:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            return Normalization.from_bytes(z.read(FILE), str(path))
    return read(path)


def assert_same_stats(a: Normalization, b: Normalization) -> None:
    for name in ("obs_mean", "obs_var", "obs_count", "ret_mean", "ret_var", "ret_count"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.settings() == b.settings()


def test_resume_equals_uninterrupted(runs):
    _, full, resumed = runs
    for name in ("checkpoints/100/model.zip", "best_model.zip"):
        assert_same_model(full / name, resumed / name)
        assert_same_stats(stats_of(full / name), stats_of(resumed / name))
    assert_same_stats(read(full / "checkpoints/100" / FILE), read(resumed / "checkpoints/100" / FILE))
    with np.load(full / "evaluations.npz") as a, np.load(resumed / "evaluations.npz") as b:
        np.testing.assert_array_equal(a["results"], b["results"])


def test_every_checkpoint_and_model_zip_hold_the_statistics(runs):
    algo, full, _ = runs
    counts = []
    for cp in sorted((full / "checkpoints").iterdir()):
        stats = read(cp / FILE)
        assert_same_stats(stats, stats_of(cp / "model.zip"))
        counts.append(stats.obs_count)
    assert counts == sorted(counts) and counts[0] > 1  # they keep counting observations
    best = stats_of(full / "best_model.zip")
    expected = {"ppo": (10.0, 0.95), "sac": (5.0, 0.97)}[algo]  # ppo: the preset's gamma for this env
    assert (best.clip_obs, best.gamma) == expected
    assert best.norm_obs and best.norm_reward


def test_a_loaded_policy_applies_the_statistics(runs):
    from stable_baselines3 import PPO, SAC

    from simrl.evaluation.evaluate import evaluate

    algo, full, _ = runs
    model_zip = full / "checkpoints/100/model.zip"
    policy = api.load_policy(model_zip)
    assert isinstance(policy, NormalizedPolicy)
    # What the run measured at 100% (with the trainer's live statistics) is what the file alone gives.
    report = api.evaluate(model_zip, episodes=2)
    with np.load(full / "evaluations.npz") as ev:
        np.testing.assert_array_equal(report.returns, ev["results"][-1])
    raw = evaluate(policy.model, ENV, 2)  # the same network fed raw observations
    assert not np.array_equal(raw.returns, report.returns)
    # plain SB3 still loads the zip (it ignores the extra member)
    assert {"ppo": PPO, "sac": SAC}[algo].load(model_zip, device="cpu").num_timesteps == SETTINGS[algo][2]


def test_a_corrupt_vecnormalize_npz_is_a_one_line_error(cli, runs, tmp_path):
    _, full, _ = runs
    run = _unfinished_copy(full, tmp_path / "run", keep="050")
    _truncate(run / "checkpoints/050" / FILE)
    before = snapshot(run)
    r = cli("resume", run)
    check_one_line_error(r)
    assert FILE in r.err
    assert snapshot(run) == before


@pytest.mark.parametrize(
    ("member", "says"),
    [(b"not an npz", "truncated or corrupt"), (None, "holds no vecnormalize.npz"), ("pickle", "corrupt")],
)
def test_eval_of_a_model_zip_with_a_bad_member(cli, runs, tmp_path, member, says):
    _, full, _ = runs
    if member == "pickle":  # an object array: refused unread by allow_pickle=False
        import io

        buf = io.BytesIO()
        np.savez(buf, obs_mean=np.array([object()], dtype=object))
        member = buf.getvalue()
    bad = _with_members(full / "best_model.zip", tmp_path / "model.zip", {FILE: member})
    r = cli("eval", bad)
    check_one_line_error(r)
    assert says in r.err


def test_resume_refuses_statistics_written_with_other_settings(cli, runs, tmp_path):
    _, full, _ = runs
    run = _unfinished_copy(full, tmp_path / "run", keep="050")
    stats = read(run / "checkpoints/050" / FILE)
    other = Normalization(**{**stats.__dict__, "clip_obs": 1.5})
    (run / "checkpoints/050" / FILE).write_bytes(other.to_bytes())
    before = snapshot(run)
    r = cli("resume", run)
    check_one_line_error(r)
    assert "other settings" in r.err
    assert snapshot(run) == before
