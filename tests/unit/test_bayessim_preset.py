"""BayesSim's presets hold the inference settings whole: every setting reaches the fit; overrides replace fields."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from simrl.errors import ConfigError
from simrl.experiments import bayessim as bs
from simrl.experiments.bayessim_summary import (
    BayesSimSummary,
    Improvement,
    MethodResult,
    PosteriorSummary,
    Robustness,
    SystemResult,
)
from simrl.inference.settings import PRESETS as INFERENCE
from simrl.inference.settings import TrainSettings


class _Stop(Exception):
    pass


@pytest.fixture
def fit_calls(monkeypatch):
    """What MDNPosterior.fit_rounds receives; the fit itself stops the pipeline (nothing is trained)."""
    from simrl.inference.posterior import MDNPosterior

    calls = []

    def fake_fit_rounds(cls, prior, simulator, x_o, **kwargs):
        calls.append(kwargs)
        raise _Stop

    monkeypatch.setattr(MDNPosterior, "fit_rounds", classmethod(fake_fit_rounds))
    return calls


def _infer(preset: bs.Preset, folder) -> None:
    from simrl.inference.prior import BoxPrior

    prior = BoxPrior.for_env(bs.ENV_ID)
    with pytest.raises(_Stop):
        bs.infer(preset, prior, bs.DEFAULT_TRUTH, None, folder, None, lambda _: None)


def test_a_presets_training_settings_reach_the_fit(monkeypatch, fit_calls, tmp_path):
    # Not only epochs: the learning rate, batch size, validation split and clipping of the preset's
    # inference settings are what the MDN trains with.
    train = TrainSettings(batch_size=64, learning_rate=3e-3, epochs=7, validation_fraction=0.2, clip_max_norm=None)
    custom = replace(bs.PRESETS["smoke"], inference=replace(INFERENCE["smoke"], train=train, hidden=17))
    monkeypatch.setitem(bs.PRESETS, "custom", custom)
    _infer(bs.resolve_preset("custom", simulations=123, components=2), tmp_path)
    (kwargs,) = fit_calls
    assert kwargs["train"] == train
    assert kwargs["train"].learning_rate == 3e-3 and kwargs["train"].batch_size == 64
    assert kwargs["hidden"] == 17
    assert (kwargs["simulations"], kwargs["components"]) == (123, 2)  # the overrides
    assert (kwargs["rounds"], kwargs["summary"]) == (INFERENCE["smoke"].rounds, INFERENCE["smoke"].summary)
    assert not any(tmp_path.iterdir())  # the fit comes before anything is written


@pytest.mark.parametrize("name", list(bs.PRESETS))
def test_each_preset_holds_the_inference_settings_of_its_name(name):
    assert bs.PRESETS[name].inference is INFERENCE[name]


def test_overrides_replace_fields_of_the_inference_settings():
    base = bs.PRESETS["quick"]
    p = bs.resolve_preset(
        "quick", simulations=500, rounds=2, components=3, summary="raw", observations=4, timesteps=1000, seeds=(7,)
    )
    assert p.inference == replace(
        base.inference, simulations=500, rounds=2, components=3, summary="raw", trajectories=4
    )
    assert p.inference.train is base.inference.train  # untouched settings are kept, not rebuilt
    assert (p.timesteps, p.seeds) == (1000, (7,))
    assert bs.PRESETS["quick"] is base and base.inference.simulations == INFERENCE["quick"].simulations
    assert bs.resolve_preset("quick", simulations=None, summary=None) == base  # None means "not given"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"simulations": 0}, "--simulations must be at least 1"),
        ({"observations": 0}, "--observations must be at least 1"),
        ({"grid_points": 0}, "--grid-points must be at least 1"),
        ({"simulations": 5}, "at least 10 simulations"),  # InferenceSettings' own check
        ({"seeds": ()}, "--seeds"),
    ],
)
def test_bad_overrides_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        bs.resolve_preset("smoke", **overrides)


def _method(returns: list[list[float]]) -> MethodResult:
    from simrl.evaluation.stats import aggregate

    per_seed = [np.array(r) for r in returns]
    means = np.array([r.mean() for r in per_seed])
    return MethodResult.of(per_seed, means, aggregate(means, rng=0))


def test_summary_json_layout():
    uniform, posterior = _method([[1.0, 3.0], [2.0, 2.0]]), _method([[4.0, 4.0], [5.0, 3.0]])
    assert uniform.returns == (1.0, 3.0, 2.0, 2.0) and uniform.seed_means == (2.0, 2.0) and uniform.n_runs == 2
    system = SystemResult({"mass": 1.0}, uniform, posterior, Improvement(100.0, (50.0, 150.0), 1.0, (1.0, 1.0)))
    at_truth = {"posterior_mean": {"mass": 1.1}, "posterior_std": {"mass": 0.1}, "map": {"mass": 1.05}}
    inference = PosteriorSummary(
        **at_truth,
        ci90={"mass": (0.9, 1.3)},
        truth_in_ci90={"mass": True},
        abs_error_of_mean={"mass": 0.1},
        hpd_level_of_truth=0.4,
        log_prob_truth=1.5,
        fit_seconds=2.0,
        heldout={"n": 3},
        coverage={"n": 3},
        ppc={"draws": 4},
    )
    robustness = Robustness({"mass": np.array([0.5, 1.0])}, {"uniform": np.zeros(2), "posterior": np.ones(2)})
    summary = BayesSimSummary({"mass": 1.0}, inference, {"Real": system}, Improvement(100.0, None), robustness)
    out = json.loads(json.dumps(summary.to_json()))
    assert list(out) == ["true_params", "inference", "systems", "results", "improvement_percent", "robustness"]
    assert out["inference"]["ci90"] == {"mass": [0.9, 1.3]}
    assert out["inference"]["diagnostics"] == {"heldout": {"n": 3}, "coverage": {"n": 3}, "ppc": {"draws": 4}}
    assert out["systems"] == {"Real": {"mass": 1.0}}
    assert list(out["results"]["Real"]) == ["uniform", "posterior"]
    assert list(out["results"]["Real"]["uniform"]) == [
        *("returns", "seed_means", "iqm", "iqm_ci", "mean", "mean_ci", "median", "median_ci", "n_runs")
    ]
    assert out["improvement_percent"] == {
        "Real": {"percent": 100.0, "ci": [50.0, 150.0], "p_posterior_better": 1.0, "p_ci": [1.0, 1.0]},
        "Overall": {"percent": 100.0, "ci": None},
    }
    assert out["robustness"] == {"axes": {"mass": [0.5, 1.0]}, "maps": {"uniform": [0.0, 0.0], "posterior": [1.0, 1.0]}}
