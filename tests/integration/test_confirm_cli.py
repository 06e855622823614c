"""simrl confirm and the study's report.html: tuned vs default on fresh seeds, continuing, the page, bad input."""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from simrl.cli import main

from .browser import page_facts_or_skip
from .conftest import snapshot
from .test_tune_cli import ENV, TINY

SEEDS = [1000, 1001, 1002]  # the study's seed 0 + 1000 onwards


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory) -> tuple[Path, str]:
    """A tiny study (2 trials x 1 seed) confirmed on 3 fresh seeds by `tune --confirm 3`; its folder and output."""
    out = tmp_path_factory.mktemp("confirm")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            main(["tune", "ppo", ENV, "--out", str(out), "--name", "study", *TINY, "--trials", "2",
                  "--pruner", "none", "--confirm", "3"])  # fmt: skip
        except SystemExit as e:
            assert not e.code
    return out / "study", buf.getvalue()


def finals(folder: Path, group: str) -> np.ndarray:
    return np.array(
        [np.load(folder / "confirm" / group / f"s{s}" / "evaluations.npz")["results"][-1].mean() for s in SEEDS]
    )


@pytest.mark.slow(minutes=1)
def test_confirm_trains_both_groups_on_fresh_seeds_as_the_trials_trained(confirmed):
    study, _ = confirmed
    results = json.loads((study / "results.json").read_text())
    assert (results["seed"], results["timesteps"], results["n_envs"]) == (0, 512, 4)
    assert (results["n_evaluations"], results["eval_episodes"]) == (2, 2)
    assert set(results["space"]) == set(results["best_params"])
    trial = yaml.safe_load((study / "trials" / str(results["best_number"]) / "s0" / "config.yaml").read_text())
    for group in ("tuned", "default"):
        assert sorted(p.name for p in (study / "confirm" / group).iterdir()) == [f"s{s}" for s in SEEDS]
        for seed in SEEDS:
            run = study / "confirm" / group / f"s{seed}"
            assert json.loads((run / "meta.json").read_text())["status"] == "done"
            config = yaml.safe_load((run / "config.yaml").read_text())
            assert config["seed"] == seed
            same = ("algo", "env_id", "timesteps", "n_envs", "eval_freq", "eval_episodes", "checkpoints")
            assert {k: config[k] for k in same} == {k: trial[k] for k in same}
            if group == "tuned":  # the best trial's settings exactly
                assert config["hyperparams"] == trial["hyperparams"]
            else:  # the preset with the study's --fix values: searched parameters at the preset's values
                hp = config["hyperparams"]
                assert (hp["gamma"], hp["learning_rate"], hp["gae_lambda"]) == (0.95, "lin_7.0e-3", 0.95)
                assert (hp["n_steps"], hp["batch_size"], hp["n_epochs"]) == (64, 64, 2)
                assert hp["policy_kwargs"]["net_arch"] == [16]


@pytest.mark.slow(minutes=1)
def test_compare_and_confirm_json_hold_the_runs_statistics_and_the_verdict(confirmed):
    from simrl.evaluation.stats import aggregate, probability_of_improvement
    from simrl.experiments.hpo_confirm import verdict
    from simrl.experiments.reporting import BOOT_SEED

    study, output = confirmed
    tuned, default = finals(study, "tuned"), finals(study, "default")
    doc = json.loads((study / "confirm" / "compare.json").read_text())
    groups = {g["group"]: g for g in doc["groups"]}
    assert list(groups) == ["tuned", "default"]
    for name, scores in (("tuned", tuned), ("default", default)):
        agg = aggregate(scores, rng=BOOT_SEED)
        assert groups[name]["iqm"] == pytest.approx(agg["iqm"]) and groups[name]["n_runs"] == 3
        assert groups[name]["iqm_ci"] == pytest.approx(agg["iqm_ci"])
    poi = probability_of_improvement(tuned, default, rng=BOOT_SEED)
    [pair] = doc["probability_of_improvement"]
    assert (pair["x"], pair["y"]) == ("tuned", "default")
    assert pair["p_x_better"] == pytest.approx(poi["p"]) and pair["ci"] == pytest.approx(poi["ci"])

    confirm = json.loads((study / "confirm" / "confirm.json").read_text())
    assert confirm["seeds"] == SEEDS and confirm["trial_seeds"] == [0]
    assert confirm["groups"]["tuned"]["finals"] == pytest.approx(tuned.tolist())
    assert confirm["groups"]["default"]["iqm_ci"] == pytest.approx(groups["default"]["iqm_ci"])
    assert confirm["groups"]["tuned"]["runs"] == [f"confirm/tuned/s{s}" for s in SEEDS]
    kind, line = verdict(poi["p"], tuple(poi["ci"]))
    assert (confirm["verdict"], confirm["line"]) == (kind, line)
    assert "--fix values" in confirm["default_means"]
    assert line in output and "default: the ppo preset for simrl/Pendulum-v0" in output
    assert re.search(r"P\(tuned > default\) = \d\.\d\d \[\d\.\d\d, \d\.\d\d\]", line)
    for name in ("compare.html", "iqm_curves.png", "performance_profile.png"):
        assert (study / "confirm" / name).stat().st_size > 1000


def test_the_verdict_needs_the_ci_above_one_half():
    from simrl.experiments.hpo_confirm import verdict

    assert verdict(0.82, (0.64, 0.95)) == ("beats", "tuned beats default: P(tuned > default) = 0.82 [0.64, 0.95]")
    assert verdict(0.6, (0.5, 0.8))[0] == "not_reliably"
    assert "does NOT reliably beat default" in verdict(0.6, (0.3, 0.85))[1]
    assert verdict(0.2, (0.05, 0.45))[0] == "worse"
    assert verdict(1.0, None)[0] == "inconclusive"


@pytest.mark.slow(minutes=1)
def test_running_confirm_again_trains_nothing(cli, confirmed):
    study, output = confirmed
    before = snapshot(study / "confirm" / "tuned") | snapshot(study / "confirm" / "default")
    r = cli("confirm", study, "--seeds", "3")
    assert r.code == 0, r.err
    assert "trained 0 runs" in r.out and r.out.count("done, kept") == 6
    assert snapshot(study / "confirm" / "tuned") | snapshot(study / "confirm" / "default") == before
    line = json.loads((study / "confirm" / "confirm.json").read_text())["line"]
    assert line in r.out and line in output


@pytest.mark.slow(minutes=1)
def test_an_unfinished_run_is_redone_and_a_changed_best_is_refused(cli, confirmed, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(confirmed[0], study)
    run = study / "confirm" / "default" / "s1001"
    final = np.load(run / "evaluations.npz")["results"][-1].mean()
    shutil.rmtree(run / "checkpoints")  # killed before its only checkpoint, the last
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "status": "running", "timesteps_done": 0}))
    r = cli("confirm", study, "--seeds", "3")
    assert r.code == 0, r.err
    assert "confirm default s1001: resumed" in r.out and "trained 1 run;" in r.out
    assert json.loads((run / "meta.json").read_text())["status"] == "done"
    assert np.load(run / "evaluations.npz")["results"][-1].mean() == final  # the same run again

    results = json.loads((study / "results.json").read_text())
    results["best_params"]["gamma"] = 0.9999 if results["best_params"]["gamma"] != 0.9999 else 0.97
    (study / "results.json").write_text(json.dumps(results))
    before = snapshot(study / "confirm")
    r = cli("confirm", study, "--seeds", "3")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "was trained with other settings (hyperparams.gamma)" in r.err
    assert "confirm/tuned' to train the tuned runs again, with trial" in r.err
    assert snapshot(study / "confirm") == before


@pytest.mark.slow(minutes=1)
def test_report_html_shows_settings_best_trial_trials_plots_and_confirmation(cli, confirmed, tmp_path):
    study, _ = confirmed
    results = json.loads((study / "results.json").read_text())
    page = (study / "report.html").read_text()
    for key, value in results["best_params"].items():
        assert f"<th>{key}</th><td>{value}</td>" in page
    assert f"--hyperparams {study.resolve()}/best.yaml" in page
    for t in results["trials"]:
        assert f'href="trials/{t["number"]}/s0/"' in page
    plots = sorted(p.name for p in (study / "plots").glob("*.png"))
    assert plots == sorted(f"{n}.png" for n in ("history", "importances", "parallel_coordinate", "slice",
                                                "intermediate_values"))  # fmt: skip
    for name in plots:
        assert f"(plots/{name})" in page
    confirm = json.loads((study / "confirm" / "confirm.json").read_text())
    assert "Confirmation on fresh seeds" in page and html.escape(confirm["line"]) in page
    assert 'href="confirm/compare.html"' in page and 'href="confirm/tuned/s1000/"' in page
    assert page.count("<img") == len(plots) + 2  # the study's plots and the confirmation's two

    (study / "report.html").unlink()
    r = cli("report", study)  # made again from the folder's files
    assert r.code == 0 and (study / "report.html").read_text() == page
    facts = page_facts_or_skip(study / "report.html", tmp_path / "page.png")
    assert facts["images_loaded"] == facts["images"] == len(plots) + 2
    assert facts["requests"] == [] and facts["console_errors"] == [] and facts["colours"] > 50


@pytest.mark.slow(minutes=1)
def test_a_study_with_no_complete_trial_is_one_line_and_writes_nothing(cli, confirmed, tmp_path):
    results = json.loads((confirmed[0] / "results.json").read_text())
    results.update(best_number=None, best_value=None, best_params={}, best_hyperparams={})
    for t in results["trials"]:
        t.update(state="pruned", value=None)
    (tmp_path / "results.json").write_text(json.dumps(results))
    before = snapshot(tmp_path)
    r = cli("confirm", tmp_path, "--seeds", "3")
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1
    assert "has no complete trial to confirm (pruned)" in r.err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seeds", "0"], "--seeds must be at least 1, got 0"),
        (["--seeds", "-2"], "--seeds must be at least 1"),
        ([], "is not a study folder (no results.json)"),
    ],
)
def test_bad_confirm_input_is_one_line_and_writes_nothing(cli, tmp_path, args, message):
    (tmp_path / "results.txt").write_text("not a study")
    before = snapshot(tmp_path)
    r = cli("confirm", tmp_path, *args)
    assert r.code == 2 and r.err.startswith("simrl: error:") and message in r.err
    assert len(r.err.strip().splitlines()) == 1 and snapshot(tmp_path) == before


def test_a_corrupt_results_json_and_a_negative_tune_confirm_are_one_line(cli, tmp_path):
    (tmp_path / "results.json").write_text('{"study": "x"}')
    r = cli("confirm", tmp_path, "--seeds", "2")
    assert r.code == 2 and "lacks the study's settings" in r.err and not (tmp_path / "confirm").exists()
    r = cli("tune", "ppo", ENV, "--out", tmp_path / "out", "--confirm", "-1")
    assert r.code == 2 and "--confirm must be at least 0" in r.err and not (tmp_path / "out").exists()
