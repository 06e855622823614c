"""`simrl collect` end to end: demonstrations of a trained run and of the MPC planner, eval's episodes on
eval's seed, and bad input (one line, exit 2, no file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simrl.cli import main
from simrl.data.demos import Demos
from simrl.errors import CheckpointError
from simrl.evaluation.evaluate import EVAL_SEED

from .conftest import snapshot
from .test_bad_input import check_one_line_error
from .test_mpc_cli import TINY


def _eval_returns(cli, target: Path, episodes: int) -> np.ndarray:
    import json

    r = cli("eval", target, "--episodes", episodes, "--json")
    assert r.code == 0, r.err
    return np.array(json.loads(r.out)["returns"])


def test_collect_a_trained_run(cli, sac_run, tmp_path):
    out = tmp_path / "demos.npz"
    r = cli("collect", sac_run, "--episodes", 3, "--out", out)
    assert r.code == 0, r.err
    lines = r.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("collected 3 episodes, 600 steps on simrl/Pendulum-v0: return ")
    assert lines[0].endswith(f"wrote {out}")
    demos = Demos.load(out, env_id="simrl/Pendulum-v0", obs_shape=(3,), act_shape=(1,))
    assert demos.n_episodes == 3 and len(demos) == 600 and demos.truncated.sum() == 3
    assert demos.source.kind == "sb3" and demos.source.algo == "sac"
    assert Path(demos.source.path) == (sac_run / "best_model.zip").resolve()
    assert demos.env_params == {"mass": 1.0, "length": 1.0, "gravity": 10.0}
    assert (demos.seed, demos.deterministic) == (0, True)
    assert f"{demos.mean_return:.2f} ± {demos.std_return:.2f}" in lines[0]


def test_on_evals_seed_the_returns_are_evals(cli, sac_run, tmp_path):
    out = tmp_path / "demos.npz"
    r = cli("collect", sac_run, "--episodes", 2, "--seed", EVAL_SEED, "--out", out)
    assert r.code == 0, r.err
    np.testing.assert_array_equal(Demos.load(out).episode_returns, _eval_returns(cli, sac_run, 2))


def test_stochastic_collection_is_reproducible_under_its_seed(cli, sac_run, tmp_path):
    for name in ("a", "b"):
        r = cli("collect", sac_run, "--episodes", 1, "--stochastic", "--seed", 5, "--out", tmp_path / f"{name}.npz")
        assert r.code == 0, r.err
    a, b = Demos.load(tmp_path / "a.npz"), Demos.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(a.actions, b.actions)
    assert not a.deterministic
    r = cli("collect", sac_run, "--episodes", 1, "--seed", 5, "--out", tmp_path / "mean.npz")
    assert r.code == 0, r.err
    assert not np.array_equal(Demos.load(tmp_path / "mean.npz").actions, a.actions)


def test_env_params_overrides_and_force(cli, sac_run, tmp_path):
    out = tmp_path / "more" / "folders" / "demos.npz"  # a missing folder is made, as train and record make theirs
    r = cli("collect", sac_run, "--episodes", 1, "--env-param", "mass=1.3", "--out", out)
    assert r.code == 0, r.err
    assert Demos.load(out).env_params["mass"] == 1.3
    r = cli("collect", sac_run, "--episodes", 2, "--out", out, "--force")
    assert r.code == 0, r.err
    assert Demos.load(out).n_episodes == 2 and sorted(p.name for p in out.parent.iterdir()) == ["demos.npz"]


def test_noisy_collection_keeps_the_policys_actions_as_labels(cli, sac_run, tmp_path):
    r = cli("collect", sac_run, "--episodes", 2, "--noise", 0.1, "--out", tmp_path / "noisy.npz")
    assert r.code == 0, r.err
    noisy = Demos.load(tmp_path / "noisy.npz")
    assert noisy.noise == 0.1 and noisy.metadata()["noise"] == 0.1
    taken = noisy.actions - noisy.expert_actions  # the pendulum's half range is 2: std 0.2 where not clipped
    assert 0.1 < np.std(taken) < 0.25
    from simrl import api

    # the labels are the run's own mean actions at the states the noisy actions led to
    acted, _ = api.load_policy(sac_run).predict(noisy.observations, deterministic=True)
    np.testing.assert_allclose(acted, noisy.expert_actions, atol=1e-5)


@pytest.fixture(scope="module")
def mpc_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mpc")
    args = ["train", "mpc", "simrl/Pendulum-v0", "--timesteps", "100", "--seed", "3", "--checkpoints", "100"]
    try:
        main([*args, "--out", str(out), "--name", "run", *TINY])
    except SystemExit as e:
        assert not e.code
    return out / "run"


def test_collect_the_mpc_planners_policy_file(cli, mpc_run, tmp_path):
    out = tmp_path / "mpc.npz"
    r = cli("collect", mpc_run / "best_policy.pt", "--episodes", 1, "--seed", EVAL_SEED, "--out", out)
    assert r.code == 0, r.err
    demos = Demos.load(out, env_id="simrl/Pendulum-v0")
    assert (demos.source.kind, demos.source.algo) == ("mbrl", "mpc") and len(demos) == 200
    np.testing.assert_allclose(demos.episode_returns, _eval_returns(cli, mpc_run / "best_policy.pt", 1), rtol=1e-12)


BAD = {
    "zero episodes": ["--episodes", "0"],
    "negative episodes": ["--episodes", "-3"],
    "no episodes": [],
    "a negative seed": ["--episodes", "1", "--seed", "-1"],
    "a negative noise": ["--episodes", "1", "--noise", "-0.1"],
    "a noise that is not a number": ["--episodes", "1", "--noise", "lots"],
    "an infinite noise": ["--episodes", "1", "--noise", "inf"],
    "an unknown env param": ["--episodes", "1", "--env-param", "colour=1"],
    "an --out that is not an npz": ["--episodes", "1", "--out", "{tmp}/demos.csv"],
    "an --out that is a folder": ["--episodes", "1", "--out", "{tmp}/folder.npz"],
    "an --out under a file": ["--episodes", "1", "--out", "{tmp}/file.txt/demos.npz"],
    "an --out that exists": ["--episodes", "1", "--out", "{tmp}/old.npz"],
    "a missing target": ["--episodes", "1", "--target", "{tmp}/no-such-run"],
    "a target that is not a policy": ["--episodes", "1", "--target", "{tmp}/file.txt"],
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_collect_input_is_one_line_and_writes_nothing(cli, sac_run, tmp_path, case):
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "file.txt").write_text("not a policy")
    (tmp_path / "old.npz").write_bytes(b"the old file")
    args = [a.format(tmp=tmp_path) for a in BAD[case]]
    target = str(sac_run)
    if "--target" in args:
        i = args.index("--target")
        target = args.pop(i + 1)
        args.pop(i)
    if "--out" not in args:
        args += ["--out", str(tmp_path / "demos.npz")]
    before, run_before = snapshot(tmp_path), snapshot(sac_run)
    r = cli("collect", target, *args)
    assert r.code == 2, (r.code, r.err)
    check_one_line_error(r)
    assert snapshot(tmp_path) == before and snapshot(sac_run) == run_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "folder.npz", "old.npz"]


def test_demos_of_another_env_are_refused_when_loaded(cli, sac_run, tmp_path):
    out = tmp_path / "demos.npz"
    assert cli("collect", sac_run, "--episodes", 1, "--out", out).code == 0
    with pytest.raises(CheckpointError) as e:
        Demos.load(out, env_id="simrl/CartPole-v0")
    line = e.value.line()
    assert line.startswith("simrl: error: ") and "\n" not in line
    assert "simrl/Pendulum-v0, not simrl/CartPole-v0" in line
