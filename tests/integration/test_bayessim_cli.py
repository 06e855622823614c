"""simrl bayessim end to end (smoke preset) and its bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from .conftest import snapshot
from .test_bad_input import check_one_line_error


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke-preset run (a few seconds): the tests using it, or running bayessim themselves, are slow."""
    from simrl.cli import main

    out = tmp_path_factory.mktemp("bayessim")
    try:
        main(["bayessim", "--preset", "smoke", "--out", str(out)])
    except SystemExit as e:
        assert not e.code
    (folder,) = out.iterdir()
    return folder


@pytest.mark.slow
def test_smoke_run_writes_the_whole_folder(smoke):
    for name in (
        "config.json",
        "summary.json",
        "report.html",
        "posterior/samples.npz",
        "posterior/diagnostics.json",
        "posterior/model/posterior.json",
    ):
        assert (smoke / name).is_file(), name
    for method in ("uniform", "posterior"):
        meta = json.loads((smoke / "policies" / f"{method}-s0" / "meta.json").read_text())
        assert meta["status"] == "done"
    plots = {p.name for p in (smoke / "plots").iterdir()}
    assert {
        "posterior_pairs.png",
        "learning_curves.png",
        "returns_by_system.png",
        "robustness_uniform.png",
        "robustness_posterior.png",
        "robustness_diff.png",
    } <= plots
    html = (smoke / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(plots)


@pytest.mark.slow
def test_summary_compares_both_methods_on_every_system(smoke):
    summary = json.loads((smoke / "summary.json").read_text())
    assert summary["true_params"] == {"mass": 1.3, "length": 0.8}
    assert set(summary["results"]) == {"Real", "Default", "Light-Short", "Heavy-Long"}
    for system, res in summary["results"].items():
        for method in ("uniform", "posterior"):
            r = res[method]
            assert r["iqm_ci"][0] <= r["iqm"] <= r["iqm_ci"][1], (system, method)
            assert len(r["returns"]) == 3  # 1 seed x 3 evaluation episodes
        imp = summary["improvement_percent"][system]["percent"]
        u, p = res["uniform"]["mean"], res["posterior"]["mean"]
        assert imp == pytest.approx((p - u) / abs(u) * 100)
        poi = summary["improvement_percent"][system]
        assert poi["p_ci"][0] <= poi["p_posterior_better"] <= poi["p_ci"][1]
        # One seed each: the probability of improvement is 1, 0 or 1/2 (a tie).
        assert poi["p_posterior_better"] == (1.0 if p > u else 0.0 if p < u else 0.5)
    assert "Overall" in summary["improvement_percent"]


@pytest.mark.slow
def test_posterior_runs_train_on_the_posterior_samples(smoke):
    import yaml

    config = yaml.safe_load((smoke / "policies" / "posterior-s0" / "config.yaml").read_text())
    assert config["param_samples"] == "param_samples.npz" and not config["randomize"]
    with (
        np.load(smoke / "policies" / "posterior-s0" / "param_samples.npz") as a,
        np.load(smoke / "posterior" / "samples.npz") as b,
    ):
        np.testing.assert_array_equal(a["samples"], b["samples"])
    uniform = yaml.safe_load((smoke / "policies" / "uniform-s0" / "config.yaml").read_text())
    assert uniform["randomize"] == {"mass": [0.1, 2.0], "length": [0.1, 2.0]}


@pytest.mark.slow
def test_policies_are_ordinary_run_folders(cli, smoke):
    r = cli("eval", smoke / "policies" / "posterior-s0", "--episodes", "2", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)["returns"]) == 2


@pytest.mark.slow
def test_a_saved_posterior_can_be_reused(cli, smoke, tmp_path):
    r = cli(
        "bayessim",
        "--preset",
        "smoke",
        "--posterior",
        smoke / "posterior" / "model",
        "--out",
        tmp_path,
        "--timesteps",
        "4096",
    )
    assert r.code == 0, r.err
    (folder,) = tmp_path.iterdir()
    with np.load(folder / "posterior" / "samples.npz") as a, np.load(smoke / "posterior" / "samples.npz") as b:
        np.testing.assert_array_equal(a["samples"], b["samples"])


@pytest.mark.parametrize(
    "args",
    [
        ["--true-param", "mass=2.5"],  # inside the env's bounds, outside the prior box
        ["--true-param", "mass=50"],  # outside the env's bounds
        ["--true-param", "colour=1"],
        ["--true-param", "gravity=9"],  # a parameter BayesSim does not infer
        ["--simulations", "0"],
        ["--seeds", "a,b"],
        ["--preset", "huge"],
        ["--summary", "fancy"],
    ],
)
def test_bad_input(cli, tmp_path, args):
    check_one_line_error(cli("bayessim", "--preset", "smoke", "--out", tmp_path / "out", *args))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_corrupt_posterior_or_one_from_another_env(cli, smoke, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(smoke / "posterior" / "model", broken)
    weights = broken / "weights.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    before = snapshot(tmp_path)
    check_one_line_error(cli("bayessim", "--preset", "smoke", "--posterior", broken, "--out", tmp_path / "out"))

    other = tmp_path / "other"
    shutil.copytree(smoke / "posterior" / "model", other)
    cfg = json.loads((other / "posterior.json").read_text())
    cfg["prior"]["env_id"] = "simrl/CartPole-v0"
    (other / "posterior.json").write_text(json.dumps(cfg))
    check_one_line_error(cli("bayessim", "--preset", "smoke", "--posterior", other, "--out", tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("other")} == before


@pytest.mark.slow
def test_a_trained_policy_can_collect_the_data(cli, sac_run, tmp_path):
    r = cli("bayessim", "--preset", "smoke", "--collect", sac_run, "--out", tmp_path, "--timesteps", "4096")
    assert r.code == 0, r.err
    (folder,) = tmp_path.iterdir()
    assert json.loads((folder / "config.json").read_text())["collect"] == str(sac_run)
    assert (folder / "posterior" / "samples.npz").is_file()
