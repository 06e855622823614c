"""simrl.evaluation.stats: IQM against scipy, bootstrap CI coverage, probability of improvement, profiles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sps

from simrl.evaluation import stats
from simrl.evaluation.stats import (
    aggregate,
    bootstrap_ci,
    curve_iqm,
    iqm,
    paired_bootstrap_ci,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap_ci,
)


def _coverage(hits: int, trials: int, low: float, high: float) -> None:
    rate = hits / trials
    assert low <= rate <= high, f"coverage {rate:.3f} over {trials} trials outside [{low}, {high}]"


def _batch_mean(batch: np.ndarray) -> np.ndarray:
    return batch.mean(axis=(1, 2))


# --------------------------------------------------------------------------- IQM


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 11, 33, 100])
def test_iqm_equals_scipy_trim_mean(n):
    rng = np.random.default_rng(n)
    for x in (rng.normal(size=n), rng.exponential(size=n), rng.integers(0, 3, size=n).astype(float)):
        assert iqm(x) == pytest.approx(sps.trim_mean(x, 0.25), rel=1e-12, abs=1e-12)
        assert isinstance(iqm(x), float)


def test_iqm_trims_a_quarter_from_each_end():
    # n=8: cut 2 from each end, mean of the middle four; an outlier does not move it.
    assert iqm([-1000.0, 1, 2, 3, 4, 5, 6, 1000]) == pytest.approx(3.5)
    assert iqm([1.0, 2.0, 30.0]) == pytest.approx(11.0)  # n=3 cuts nothing (rliable's definition)


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_iqm_axis_matches_scipy(axis):
    x = np.random.default_rng(0).normal(size=(10, 4))
    expected = sps.trim_mean(x, 0.25, axis=axis)
    np.testing.assert_allclose(iqm(x, axis=axis), expected, rtol=1e-12)
    assert np.shape(iqm(x, axis=axis)) == np.shape(expected)


# --------------------------------------------------------------------------- bootstrap CI: coverage


@pytest.mark.parametrize(
    ("draw", "truth", "low", "high"),
    [
        # Percentile bootstrap of the mean under-covers slightly at n=30: ~0.93 normal, ~0.91 exponential
        # (measured over 4000 trials). Bounds are ~3 binomial sd (0.008 at 1000 trials) around those.
        (lambda r: r.normal(1.0, 2.0, size=30), 1.0, 0.90, 0.975),
        (lambda r: r.exponential(1.0, size=30), 1.0, 0.88, 0.97),
    ],
    ids=["normal", "exponential"],
)
def test_bootstrap_ci_covers_the_true_mean_at_close_to_95_percent(draw, truth, low, high):
    rng = np.random.default_rng(2021)
    trials = 1000
    hits = 0
    for _ in range(trials):
        lo, hi = bootstrap_ci(draw(rng), np.mean, n_boot=500, rng=rng)
        hits += lo <= truth <= hi
    _coverage(hits, trials, low, high)


def test_stratified_bootstrap_ci_covers_the_mean_over_tasks():
    # Four tasks with different means and spreads; resampling must stay within each task. Mixing tasks
    # would inflate the interval (coverage near 1), ignoring the spread would shrink it.
    rng = np.random.default_rng(7)
    mus, sds = np.array([0.0, 1.0, 5.0, -2.0]), np.array([1.0, 2.0, 0.5, 3.0])
    trials = 600
    hits = 0
    for _ in range(trials):
        scores = rng.normal(mus, sds, size=(20, 4))
        lo, hi = stratified_bootstrap_ci(scores, _batch_mean, n_boot=500, rng=rng, vectorized=True)
        hits += lo <= mus.mean() <= hi
    _coverage(hits, trials, 0.90, 0.98)  # measured ~0.93 over 4000 trials


def test_aggregate_iqm_and_mean_cis_cover_the_truth():
    # Symmetric tasks centred on 0: the pooled population IQM and the mean are both 0.
    rng = np.random.default_rng(11)
    sds = np.array([1.0, 2.0, 0.5, 3.0])
    trials = 400
    hits = {"iqm": 0, "mean": 0}
    for _ in range(trials):
        out = aggregate(rng.normal(0.0, sds, size=(20, 4)), n_boot=500, rng=rng)
        for key in hits:
            hits[key] += out[f"{key}_ci"][0] <= 0.0 <= out[f"{key}_ci"][1]
    for key in hits:
        _coverage(hits[key], trials, 0.89, 0.985)  # measured ~0.94 (iqm), ~0.93 (mean) over 4000 trials


# --------------------------------------------------------------------------- bootstrap CI: mechanics


def test_bootstrap_ci_agrees_with_scipy_percentile_bootstrap():
    x = np.random.default_rng(3).exponential(size=25)
    ours = bootstrap_ci(x, np.mean, n_boot=20000, rng=1)
    theirs = sps.bootstrap((x,), np.mean, method="percentile", n_resamples=20000, rng=np.random.default_rng(2))
    se = x.std() / math.sqrt(x.size)
    # Both are Monte Carlo estimates of the same percentiles: they differ by ~0.03 standard errors.
    assert ours[0] == pytest.approx(theirs.confidence_interval.low, abs=0.15 * se)
    assert ours[1] == pytest.approx(theirs.confidence_interval.high, abs=0.15 * se)


def test_paired_bootstrap_ci_is_scipys_paired_percentile_bootstrap():
    rng = np.random.default_rng(17)
    shared = rng.normal(0.0, 5.0, size=12)  # what each seed gives both methods alike
    x, y = shared + 1.0 + rng.normal(0.0, 0.3, size=12), shared + rng.normal(0.0, 0.3, size=12)

    def diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
        return a.mean(axis=axis) - b.mean(axis=axis)

    ours = paired_bootstrap_ci(x, y, diff, n_boot=1000, rng=3)
    theirs = sps.bootstrap((x, y), diff, paired=True, method="percentile", n_resamples=1000, rng=3)
    assert ours == (theirs.confidence_interval.low, theirs.confidence_interval.high)
    assert ours[0] < 1.0 < ours[1]
    # Pairing cancels the shared seed effect: the interval is far narrower than resampling x and y apart.
    unpaired = sps.bootstrap((x, y), diff, method="percentile", n_resamples=1000, rng=3).confidence_interval
    assert ours[1] - ours[0] < 0.5 * (unpaired.high - unpaired.low)
    # A statistic without ``axis`` is called per resample and gives the same interval.
    assert paired_bootstrap_ci(x, y, lambda a, b: a.mean() - b.mean(), n_boot=1000, rng=3) == pytest.approx(ours)
    assert paired_bootstrap_ci([2.0], [1.0], diff, rng=0) == (1.0, 1.0)  # one pair: nothing to resample


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "word"),
    [
        ([1.0, 2.0], [1.0], {}, "same length"),
        ([1.0, np.nan], [1.0, 2.0], {}, "NaN"),
        ([], [], {}, "empty"),
        (np.ones((2, 2)), np.ones((2, 2)), {}, "1-D"),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 95}, "confidence"),
        ([1.0, 2.0], [1.0, 2.0], {"n_boot": 0}, "n_boot"),
    ],
)
def test_paired_bootstrap_ci_bad_input(x, y, kwargs, word):
    with pytest.raises(ValueError, match=word):
        paired_bootstrap_ci(x, y, lambda a, b: a.mean() - b.mean(), **kwargs)


def test_statistic_with_and_without_axis_gives_the_same_interval():
    x = np.random.default_rng(4).normal(size=15)
    assert bootstrap_ci(x, np.median, n_boot=300, rng=5) == bootstrap_ci(
        x, lambda s: float(np.median(s)), n_boot=300, rng=5
    )
    scores = np.random.default_rng(6).normal(size=(8, 3))
    vec = stratified_bootstrap_ci(scores, _batch_mean, n_boot=300, rng=5, vectorized=True)
    loop = stratified_bootstrap_ci(scores, lambda s: s.mean(), n_boot=300, rng=5)
    np.testing.assert_allclose(vec, loop, rtol=1e-12)


def test_bootstrap_is_reproducible_and_independent_of_batch_size(monkeypatch):
    scores = np.random.default_rng(8).normal(size=(10, 3))
    x, y = scores, scores + 0.3
    first = (aggregate(scores, n_boot=400, rng=9), probability_of_improvement(x, y, n_boot=400, rng=9))
    assert first == (aggregate(scores, n_boot=400, rng=9), probability_of_improvement(x, y, n_boot=400, rng=9))
    assert first[0] != aggregate(scores, n_boot=400, rng=10)
    monkeypatch.setattr(stats, "_MAX_BYTES", 2000)  # a handful of resamples per batch
    assert first == (aggregate(scores, n_boot=400, rng=9), probability_of_improvement(x, y, n_boot=400, rng=9))


def test_stratified_resampling_stays_within_each_task_and_draws_each_task_independently():
    # scores[r, k] = 10k + r encodes (run, task): a resample must keep every value in its own column, and the
    # runs drawn for one task must not simply repeat those drawn for another.
    scores = np.arange(4)[None, :] * 10.0 + np.arange(6)[:, None]
    seen = []

    def check(batch: np.ndarray) -> np.ndarray:
        assert batch.shape[1:] == scores.shape
        assert (np.floor(batch / 10.0) == np.arange(4)).all()
        seen.append(batch - np.arange(4) * 10.0)  # the run indices drawn
        return batch.max(axis=1)  # (b, 4): a 1-D statistic

    lo, hi = stratified_bootstrap_ci(scores, check, n_boot=200, rng=0, vectorized=True)
    runs = np.concatenate(seen)
    same_as_task_0 = (runs == runs[..., :1]).all(axis=1)[:, 1:]  # (n_boot, 3)
    assert same_as_task_0.mean() < 0.01  # independent draws repeat task 0's with probability 6**-6
    assert lo.shape == hi.shape == (4,)
    np.testing.assert_array_equal(hi, scores.max(axis=0))


def test_aggregate_values_and_json():
    scores = np.random.default_rng(12).normal(size=(9, 3)) + np.array([0.0, 1.0, 4.0])
    out = aggregate(scores, n_boot=300, rng=0)
    assert set(out) == {"iqm", "iqm_ci", "mean", "mean_ci", "median", "median_ci", "n_runs"}
    assert out["iqm"] == pytest.approx(sps.trim_mean(scores.ravel(), 0.25))
    assert out["mean"] == pytest.approx(scores.mean())
    assert out["median"] == pytest.approx(np.median(scores))
    assert out["n_runs"] == 9
    for key in ("iqm", "mean", "median"):
        lo, hi = out[f"{key}_ci"]
        assert lo <= out[key] <= hi
    assert json.loads(json.dumps(out)) == out
    one_task = scores[:, 0]
    assert aggregate(one_task, n_boot=300, rng=0) == aggregate(one_task[:, None], n_boot=300, rng=0)


# --------------------------------------------------------------------------- probability of improvement


def test_probability_of_improvement_hand_computed_with_ties():
    # x=[1,2,3], y=[2,2]: pairs won 0+0, 0.5+0.5, 1+1 -> 3/6.
    assert probability_of_improvement([1, 2, 3], [2, 2], n_boot=50, rng=0)["p"] == pytest.approx(0.5)
    # x=[1,2,3,4], y=[2,2,5]: 0 + (0.5+0.5) + (1+1) + (1+1) = 5 of 12 pairs.
    assert probability_of_improvement([1, 2, 3, 4], [2, 2, 5], n_boot=50, rng=0)["p"] == pytest.approx(5 / 12)
    # Two tasks: the second is x=3 four times against y=[3,3,1]: (0.5+0.5+1) * 4 = 8 of 12; average 13/24.
    x = np.array([[1, 3], [2, 3], [3, 3], [4, 3]], dtype=float)
    y = np.array([[2, 3], [2, 3], [5, 1]], dtype=float)
    assert probability_of_improvement(x, y, n_boot=50, rng=0)["p"] == pytest.approx(13 / 24)


def test_probability_of_improvement_matches_mann_whitney_u():
    rng = np.random.default_rng(13)
    x, y = rng.integers(0, 6, size=(12, 3)).astype(float), rng.integers(1, 7, size=(7, 3)).astype(float)
    expected = np.mean([sps.mannwhitneyu(x[:, k], y[:, k]).statistic / (12 * 7) for k in range(3)])
    out = probability_of_improvement(x, y, n_boot=300, rng=0)
    assert out["p"] == pytest.approx(expected, rel=1e-12)
    assert out["ci"][0] <= out["p"] <= out["ci"][1]
    assert out["p"] + probability_of_improvement(y, x, n_boot=10, rng=0)["p"] == pytest.approx(1.0)


def test_probability_of_improvement_identical_and_shifted():
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    same = probability_of_improvement(x, y, n_boot=500, rng=0)
    assert same["p"] == pytest.approx(0.5, abs=0.1)  # sd ~0.04 here
    assert same["ci"][0] < 0.5 < same["ci"][1]
    assert same["ci"][0] <= same["p"] <= same["ci"][1]
    better = probability_of_improvement(y + 100.0, y, n_boot=200, rng=0)
    assert better == {"p": 1.0, "ci": [1.0, 1.0]}
    assert probability_of_improvement(y, y + 100.0, n_boot=200, rng=0) == {"p": 0.0, "ci": [0.0, 0.0]}


# --------------------------------------------------------------------------- performance profile, curves


def test_performance_profile_is_a_survival_function_with_bands():
    scores = np.random.default_rng(15).normal(size=(10, 3)) + np.array([0.0, 2.0, 4.0])
    taus = np.linspace(scores.min() - 1.0, scores.max() + 1.0, 41)
    out = performance_profile(scores, taus, n_boot=300, rng=0)
    frac, lo, hi = (np.array(out[k]) for k in ("fraction", "lo", "hi"))
    assert out["taus"] == taus.tolist()
    for curve in (frac, lo, hi):
        assert (np.diff(curve) <= 0).all()
    assert (lo <= hi).all()
    np.testing.assert_array_equal(frac, (scores.ravel()[:, None] > taus).mean(axis=0))
    assert frac[0] == lo[0] == hi[0] == 1.0
    assert frac[-1] == lo[-1] == hi[-1] == 0.0
    at_max = performance_profile(scores, [scores.min() - 1e-9, scores.max()], n_boot=50, rng=0)
    assert at_max["fraction"] == [1.0, 0.0]  # strictly greater: nothing is above the maximum


def test_performance_profile_counts_strictly_greater():
    out = performance_profile([1.0, 2.0, 3.0, 4.0], [2.0, 2.5], n_boot=50, rng=0)
    assert out["fraction"] == [0.5, 0.5]


def test_curve_iqm_per_point():
    rng = np.random.default_rng(16)
    curves = np.cumsum(rng.normal(1.0, 1.0, size=(10, 6)), axis=1)
    curves[:, 0] = 3.0  # a point where every run agrees has a zero-width interval
    out = curve_iqm(curves, n_boot=300, rng=0)
    np.testing.assert_allclose(out["iqm"], sps.trim_mean(curves, 0.25, axis=0), rtol=1e-12)
    assert len(out["lo"]) == len(out["hi"]) == 6
    assert out["lo"][0] == out["hi"][0] == 3.0
    assert all(lo <= m <= hi for lo, m, hi in zip(out["lo"], out["iqm"], out["hi"], strict=True))
    assert (np.diff(out["iqm"][1:]) > 0).all()
    multi = curve_iqm(np.stack([curves, curves + 1.0], axis=1), n_boot=50, rng=0)  # (runs, tasks, points)
    np.testing.assert_allclose(multi["iqm"], sps.trim_mean(np.concatenate([curves, curves + 1.0]), 0.25, axis=0))


# --------------------------------------------------------------------------- bad input

_OK = np.ones((3, 2))
BAD_CALLS = {
    "iqm empty": lambda: iqm([]),
    "iqm nan": lambda: iqm([1.0, np.nan]),
    "iqm axis": lambda: iqm(_OK, axis=2),
    "boot empty": lambda: bootstrap_ci([]),
    "boot nan": lambda: bootstrap_ci([1.0, np.nan, 2.0]),
    "boot inf": lambda: bootstrap_ci([1.0, np.inf]),
    "boot 2-D": lambda: bootstrap_ci(_OK),
    "boot strings": lambda: bootstrap_ci(["a", "b"]),
    "boot conf 0": lambda: bootstrap_ci([1.0, 2.0], confidence=0.0),
    "boot conf 1": lambda: bootstrap_ci([1.0, 2.0], confidence=1.0),
    "boot conf 95": lambda: bootstrap_ci([1.0, 2.0], confidence=95),
    "boot conf nan": lambda: bootstrap_ci([1.0, 2.0], confidence=float("nan")),
    "boot n_boot 0": lambda: bootstrap_ci([1.0, 2.0], n_boot=0),
    "boot n_boot float": lambda: bootstrap_ci([1.0, 2.0], n_boot=10.5),
    "boot bad statistic": lambda: bootstrap_ci([1.0, 2.0], lambda s: np.array([1.0, 2.0]), n_boot=5),
    "strat 3-D": lambda: stratified_bootstrap_ci(np.ones((2, 2, 2)), np.mean),
    "strat empty": lambda: stratified_bootstrap_ci(np.ones((0, 2)), np.mean),
    "strat nan": lambda: stratified_bootstrap_ci([[1.0, np.nan]], np.mean),
    "strat n_boot": lambda: stratified_bootstrap_ci(_OK, np.mean, n_boot=-1),
    "strat 2-D statistic": lambda: stratified_bootstrap_ci(_OK, lambda s: s, n_boot=5),
    "agg empty": lambda: aggregate(np.ones((3, 0))),
    "agg 3-D": lambda: aggregate(np.ones((2, 2, 2))),
    "agg conf": lambda: aggregate(_OK, confidence=-0.5),
    "poi tasks differ": lambda: probability_of_improvement(np.ones((3, 2)), np.ones((3, 3))),
    "poi nan": lambda: probability_of_improvement([1.0, 2.0], [np.nan, 1.0]),
    "poi empty": lambda: probability_of_improvement([], [1.0]),
    "profile nan tau": lambda: performance_profile(_OK, [0.0, np.nan]),
    "profile no taus": lambda: performance_profile(_OK, []),
    "profile 2-D taus": lambda: performance_profile(_OK, np.ones((2, 2))),
    "profile nan": lambda: performance_profile([np.nan], [0.0]),
    "curve 1-D": lambda: curve_iqm(np.ones(5)),
    "curve 4-D": lambda: curve_iqm(np.ones((2, 2, 2, 2))),
    "curve n_boot": lambda: curve_iqm(_OK, n_boot=0),
}


@pytest.mark.parametrize("name", BAD_CALLS)
def test_bad_input_raises_value_error(name):
    # The message names the problem: callers show it to the user as it is.
    expected = {"conf": "confidence", "n_boot": "n_boot", "nan": "NaN", "empty": "empty", "inf": "infinite"}
    word = next((v for k, v in expected.items() if k in name.split()), r"\w")
    with pytest.raises(ValueError, match=word):
        BAD_CALLS[name]()
