"""simrl tune on imitation learners: trials clone from --demos (or an --expert's demonstrations), the study
records them, best.yaml and --confirm train with them, and a study without them is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .conftest import main_ok

ENV = "simrl/Pendulum-v0"
TINY = ["--eval-episodes", "2", "--n-evaluations", "2", "--pruner", "none"]


@pytest.fixture(scope="module")
def demos(sac_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demos") / "demos.npz"
    main_ok("collect", sac_run, "--episodes", 2, "--out", out)
    return out


@pytest.mark.slow(minutes=1)
def test_a_bc_study_clones_from_its_demos_and_confirms_with_them(demos, tmp_path):
    main_ok("tune", "bc", ENV, "--demos", demos, "--trials", 2, "--timesteps", 200, "--fix", "check_freq=50",
            "--out", tmp_path, "--name", "study", "--confirm", 1, *TINY)  # fmt: skip
    study = tmp_path / "study"
    results = json.loads((study / "results.json").read_text())
    assert results["algo"] == "bc" and results["demos"] == str(demos.resolve()) and results["expert"] is None
    assert [t["state"] for t in results["trials"]] == ["complete", "complete"]
    assert set(results["best_params"]) == {"learning_rate", "batch_size", "weight_decay", "policy_kwargs.net_arch"}
    for t in results["trials"]:
        (run,) = t["runs"]
        assert (study / run / "demos.npz").read_bytes() == demos.read_bytes()  # each trial run cloned from them
        assert json.loads((study / run / "meta.json").read_text())["status"] == "done"
    for group in ("tuned", "default"):  # --confirm trains both on a fresh seed, from the same demonstrations
        assert (study / "confirm" / group / "s1000" / "demos.npz").read_bytes() == demos.read_bytes()
    text = (study / "best.yaml").read_text()
    assert f"# simrl train bc {ENV} --hyperparams best.yaml --demos {demos.resolve()}" in text  # its command, whole
    best = yaml.safe_load(text)
    main_ok("train", "bc", ENV, "--demos", demos, "--hyperparams", study / "best.yaml", "--timesteps", 100,
            "--eval-episodes", 1, "--out", tmp_path, "--name", "best")  # fmt: skip
    trained = yaml.safe_load((tmp_path / "best" / "config.yaml").read_text())["hyperparams"]
    assert trained["learning_rate"] == pytest.approx(best[ENV]["learning_rate"])


@pytest.mark.slow(minutes=1)
def test_a_dagger_study_collects_from_and_queries_its_expert(sac_run, tmp_path):
    main_ok("tune", "dagger", ENV, "--expert", sac_run, "--demo-episodes", 1, "--trials", 1, "--timesteps", 6,
            "--fix", "fit_steps=100", "--fix", "episodes_per_round=1", "--fix", "check_freq=50",
            "--out", tmp_path, "--name", "study", *TINY)  # fmt: skip
    results = json.loads((tmp_path / "study" / "results.json").read_text())
    assert results["expert"] == str(sac_run.resolve()) and results["demo_episodes"] == 1
    ((run,),) = [t["runs"] for t in results["trials"]]
    config = yaml.safe_load((tmp_path / "study" / run / "config.yaml").read_text())
    assert (config["demos"], config["expert_policy"]) == ("demos.npz", "expert.zip")  # the expert run's best SAC
    assert results["trials"][0]["state"] == "complete"


@pytest.mark.parametrize(
    ("algo", "env", "args", "message"),
    [
        ("bc", ENV, [], "needs demonstrations"),  # none at all
        ("bc", ENV, ["--demos", "missing.npz"], "do not exist"),
        ("bc", "simrl/CartPole-v0", ["--demos", "DEMOS"], "are of simrl/Pendulum-v0, not simrl/CartPole-v0"),
        ("bc", ENV, ["--demos", "DEMOS", "--demo-episodes", "50"], "holds 2 episodes"),
        ("dagger", ENV, ["--demos", "DEMOS"], "needs --expert"),
        ("sac", ENV, ["--demos", "DEMOS"], "are for imitation learners"),
    ],
)
def test_bad_demonstrations_are_one_line_before_the_study_exists(cli, demos, tmp_path, algo, env, args, message):
    given = [demos if a == "DEMOS" else a for a in args]
    r = cli("tune", algo, env, "--out", tmp_path / "out", "--trials", 1, *given)
    assert r.code == 2 and r.err.startswith("simrl: error:") and len(r.err.strip().splitlines()) == 1, r.err
    assert message in r.err
    assert not (tmp_path / "out").exists()
