"""Honest statistics for comparing RL results: IQM, bootstrap confidence intervals, probability of improvement.

The definitions follow Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the Statistical
Precipice" (the rliable library), written here with numpy/scipy: a few short functions, not worth rliable and
its dependencies (arch, seaborn). Scores are a ``(n_runs, n_tasks)`` matrix: one row per run (seed), one column
per task (env); a 1-D array is one task. Confidence intervals are percentile bootstrap intervals.

The plain and the paired bootstrap of 1-D samples are ``scipy.stats.bootstrap`` (``method="percentile"``).
The stratified bootstrap (runs resampled with replacement independently within each task, as rliable does) is
written here, because scipy has no stratified resampling: its samples are separate arguments of the statistic,
and splitting a score matrix into one sample per task would draw all tasks from one stream batch by batch, so
the interval would change with the memory batch size. Hand-written bootstraps are vectorised: all resample
indices of a batch are drawn at once, in batches of at most ``_MAX_BYTES`` of working memory.

Randomness comes only from the ``rng`` argument (a ``numpy.random.Generator`` or a seed); ``None`` means fresh,
unseeded entropy. Bad input (empty, NaN or infinite scores, wrong dimensions, ``confidence`` outside (0, 1),
``n_boot < 1``) raises ``ValueError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "aggregate",
    "bootstrap_ci",
    "curve_iqm",
    "iqm",
    "paired_bootstrap_ci",
    "performance_profile",
    "probability_of_improvement",
    "stratified_bootstrap_ci",
]

RngLike = np.random.Generator | int | None
# Working memory one bootstrap batch may use; larger bootstraps run in several batches.
_MAX_BYTES = 100 * 2**20


# --------------------------------------------------------------------------- validation


def _check_settings(n_boot: int, confidence: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float | np.integer | np.floating):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if not 0.0 < float(confidence) < 1.0:  # also rejects NaN
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _as_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a non-empty, finite float64 array, or a ValueError that names it."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN ({int(np.isnan(arr).sum())} of {arr.size} values)")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains infinite values")
    return arr


def _as_scores(x: Any, name: str) -> np.ndarray:
    """A score matrix ``(n_runs, n_tasks)``; a 1-D array is one task."""
    arr = _as_array(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (runs) or 2-D (runs, tasks), got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------- the bootstrap engine


def _batches(n_boot: int, bytes_per_resample: float) -> Iterator[int]:
    size = max(1, int(_MAX_BYTES // max(bytes_per_resample, 1.0)))
    for start in range(0, n_boot, size):
        yield min(size, n_boot - start)


def _resample(a: np.ndarray, b: int, rng: np.random.Generator) -> np.ndarray:
    """``b`` stratified resamples of ``a`` (n_runs, n_tasks, ...): runs drawn with replacement within each task.

    Returns shape ``(b, n_runs, n_tasks, ...)``.
    """
    n_runs, n_tasks = a.shape[:2]
    idx = rng.integers(0, n_runs, size=(b, n_runs, n_tasks))
    return a[idx, np.arange(n_tasks)]


def _boot(
    arrays: tuple[np.ndarray, ...],
    batch_stat: Callable[..., np.ndarray],
    n_boot: int,
    rng: np.random.Generator,
    bytes_factor: float = 3.0,
) -> np.ndarray:
    """``batch_stat`` over ``n_boot`` stratified resamples of each array; returns ``(n_boot, ...)``.

    Each array draws from its own stream, so the result does not depend on the batch size.
    """
    streams = rng.spawn(len(arrays)) if len(arrays) > 1 else [rng]
    per_resample = bytes_factor * 8.0 * sum(a.size for a in arrays)
    out = [
        batch_stat(*(_resample(a, b, g) for a, g in zip(arrays, streams, strict=True)))
        for b in _batches(n_boot, per_resample)
    ]
    return np.concatenate(out, axis=0)


def _percentile_ci(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100.0 * (1.0 - float(confidence)) / 2.0
    lo, hi = np.percentile(boot, [tail, 100.0 - tail], axis=0)
    return lo, hi


def _takes_axis(fn: Callable[..., Any]) -> bool:
    try:
        return "axis" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _trim(a: np.ndarray, axis: int) -> np.ndarray:
    return stats.trim_mean(a, 0.25, axis=axis)


# --------------------------------------------------------------------------- public API


def iqm(x: Any, axis: int | None = None) -> float | np.ndarray:
    """Interquartile mean: the mean of the middle 50% of the scores, ``scipy.stats.trim_mean(x, 0.25, axis)``.

    This is rliable's definition: ``int(0.25 * n)`` values are cut from each end, so for n < 4 nothing is cut.

    Args:
        x: scores, any shape.
        axis: axis to reduce; ``None`` pools all values.

    Returns:
        A float when the result is a scalar, else an array with ``axis`` removed.

    Raises:
        ValueError: ``x`` is empty or contains NaN/inf, or ``axis`` is out of range.
    """
    arr = _as_array(x, "x")
    if axis is not None and not -arr.ndim <= axis < arr.ndim:
        raise ValueError(f"axis {axis} is out of range for x of shape {arr.shape}")
    out = np.asarray(_trim(arr, axis))
    return float(out) if out.ndim == 0 else out


def bootstrap_ci(
    x: Any,
    statistic: Callable[..., Any] = np.mean,
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: RngLike = None,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``statistic`` over the 1-D sample ``x``.

    ``scipy.stats.bootstrap`` with ``method="percentile"`` computes it; this function validates the input and
    handles a single observation, which scipy refuses (its bootstrap distribution is the one value).

    Args:
        x: 1-D sample (e.g. the final returns of several seeds).
        statistic: maps a 1-D sample to a scalar. If it takes an ``axis`` keyword (``np.mean``, ``np.median``,
            ``iqm``) it is called once per batch with ``axis=-1``; otherwise once per resample.
        n_boot: number of bootstrap resamples.
        confidence: coverage of the interval, in (0, 1).
        rng: a ``numpy.random.Generator`` or seed; ``None`` is unseeded.

    Returns:
        ``(lo, hi)``, the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the bootstrap
        distribution of the statistic.

    Raises:
        ValueError: ``x`` is not 1-D, is empty or has NaN/inf; bad ``n_boot`` or ``confidence``; the statistic
            does not return one value per resample.
    """
    _check_settings(n_boot, confidence)
    arr = _as_array(x, "x")
    if arr.ndim != 1:
        raise ValueError(f"x must be 1-D, got shape {arr.shape}")
    return _scipy_bootstrap((arr,), statistic, n_boot, confidence, rng, paired=False)


def paired_bootstrap_ci(
    x: Any,
    y: Any,
    statistic: Callable[..., Any],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: RngLike = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic(x, y)``, resampling the pairs ``(x[i], y[i])`` together.

    For two methods measured on the same seeds (or systems): resampling pairs keeps what each seed shares
    between the methods. ``scipy.stats.bootstrap(..., paired=True, method="percentile")`` computes it.

    Args:
        x, y: 1-D samples of the same length; ``x[i]`` and ``y[i]`` belong together.
        statistic: maps two 1-D samples to a scalar, e.g. the relative improvement of the means. If it takes an
            ``axis`` keyword it is called once per batch with ``axis=-1``; otherwise once per resample.
        n_boot, confidence, rng: as in :func:`bootstrap_ci`.

    Returns:
        ``(lo, hi)``; a single pair gives the degenerate interval ``(s, s)``, ``s = statistic(x, y)``.

    Raises:
        ValueError: ``x`` or ``y`` not 1-D, empty or with NaN/inf; different lengths; bad ``n_boot`` or
            ``confidence``; a statistic that does not return one value per resample.
    """
    _check_settings(n_boot, confidence)
    xa, ya = _as_array(x, "x"), _as_array(y, "y")
    if xa.ndim != 1 or ya.ndim != 1:
        raise ValueError(f"x and y must be 1-D, got shapes {xa.shape} and {ya.shape}")
    if xa.size != ya.size:
        raise ValueError(f"x and y must have the same length (they are paired), got {xa.size} and {ya.size}")
    return _scipy_bootstrap((xa, ya), statistic, n_boot, confidence, rng, paired=True)


def _scipy_bootstrap(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., Any],
    n_boot: int,
    confidence: float,
    rng: RngLike,
    *,
    paired: bool,
) -> tuple[float, float]:
    """``scipy.stats.bootstrap`` (percentile method) of 1-D samples, as ``(lo, hi)`` floats."""
    n = samples[0].size
    if n == 1:  # scipy needs two observations; every resample of one is that one
        value = np.asarray(statistic(*samples), dtype=np.float64)
        if value.ndim != 0:
            raise ValueError(f"statistic must return one scalar per sample, got shape {value.shape}")
        return float(value), float(value)
    res = stats.bootstrap(
        samples,
        statistic,
        n_resamples=int(n_boot),
        batch=max(1, int(_MAX_BYTES // (3.0 * 8.0 * n * len(samples)))),
        vectorized=_takes_axis(statistic),
        paired=paired,
        confidence_level=float(confidence),
        method="percentile",
        rng=np.random.default_rng(rng),
    )
    if res.bootstrap_distribution.shape != (n_boot,):
        shape = res.bootstrap_distribution.shape[:-1]
        raise ValueError(f"statistic must return one scalar per sample, got shape {shape}")
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def stratified_bootstrap_ci(
    scores: Any,
    statistic: Callable[[np.ndarray], Any],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    rng: RngLike = None,
    vectorized: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile CI of ``statistic`` under the stratified bootstrap (runs resampled within each task).

    Args:
        scores: ``(n_runs, n_tasks)`` matrix; 1-D means one task.
        statistic: maps a ``(n_runs, n_tasks)`` matrix to a scalar or 1-D array,
            e.g. ``lambda s: iqm(s.ravel())``. With ``vectorized=True`` it instead maps a batch
            ``(b, n_runs, n_tasks)`` to ``(b,)`` or ``(b, k)``, which is much faster.
        n_boot: number of bootstrap resamples.
        confidence: coverage of the interval, in (0, 1).
        rng: a ``numpy.random.Generator`` or seed; ``None`` is unseeded.
        vectorized: whether ``statistic`` takes a batch of resamples (see above).

    Returns:
        ``(lo, hi)`` arrays of the statistic's shape (0-d for a scalar statistic).

    Raises:
        ValueError: bad scores (empty, NaN/inf, more than 2-D), ``n_boot`` or ``confidence``; a statistic
            whose output is not a scalar or 1-D per resample.
    """
    # By hand: scipy.stats.bootstrap cannot resample runs within each task of one matrix (module docstring).
    _check_settings(n_boot, confidence)
    mat = _as_scores(scores, "scores")

    def batch_stat(res: np.ndarray) -> np.ndarray:
        if vectorized:
            return np.asarray(statistic(res), dtype=np.float64)
        return np.stack([np.asarray(statistic(r), dtype=np.float64) for r in res])

    boot = _boot((mat,), batch_stat, n_boot, np.random.default_rng(rng))
    if boot.shape[0] != n_boot or boot.ndim > 2:
        raise ValueError(f"statistic must return a scalar or 1-D array per resample, got shape {boot.shape[1:]}")
    return _percentile_ci(boot, confidence)


def _aggregates(res: np.ndarray) -> np.ndarray:
    """IQM (pooled), mean of task means, median (pooled), for a batch ``(b, n_runs, n_tasks)``."""
    pooled = res.reshape(res.shape[0], -1)
    return np.stack([_trim(pooled, axis=1), res.mean(axis=1).mean(axis=1), np.median(pooled, axis=1)], axis=1)


def aggregate(scores: Any, *, n_boot: int = 2000, confidence: float = 0.95, rng: RngLike = None) -> dict[str, Any]:
    """IQM, mean and median of a score matrix, each with a stratified-bootstrap confidence interval.

    As in rliable, ``iqm`` pools all runs and tasks and ``mean`` is the mean of the per-task mean scores.
    ``median`` pools all runs and tasks too (rliable takes the median of task means, which for the single
    env a simrl comparison usually has would just repeat the mean).

    Args:
        scores: ``(n_runs, n_tasks)`` matrix; 1-D means one task.
        n_boot, confidence, rng: as in :func:`stratified_bootstrap_ci`.

    Returns:
        ``{"iqm", "iqm_ci": [lo, hi], "mean", "mean_ci", "median", "median_ci", "n_runs"}``, plain floats
        (and an int), ready for JSON.

    Raises:
        ValueError: bad scores, ``n_boot`` or ``confidence``.
    """
    # By hand: three statistics of the same stratified resamples, which scipy does not offer.
    _check_settings(n_boot, confidence)
    mat = _as_scores(scores, "scores")
    point = _aggregates(mat[None])[0]
    lo, hi = _percentile_ci(_boot((mat,), _aggregates, n_boot, np.random.default_rng(rng)), confidence)
    out: dict[str, Any] = {}
    for i, name in enumerate(("iqm", "mean", "median")):
        out[name] = float(point[i])
        out[f"{name}_ci"] = [float(lo[i]), float(hi[i])]
    out["n_runs"] = int(mat.shape[0])
    return out


def _poi(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """P(X > Y) + P(X = Y)/2 averaged over tasks, for batches ``(b, m, T)`` and ``(b, n, T)``; returns ``(b,)``.

    Uses the rank form of the Mann-Whitney U: with average ranks, U_x = (rank sum of x) - m(m+1)/2 counts
    pairs with x > y plus half the ties, in O((m+n) log(m+n)) instead of O(mn).
    """
    m, n = xs.shape[1], ys.shape[1]
    ranks = stats.rankdata(np.concatenate([xs, ys], axis=1), axis=1)
    u = ranks[:, :m].sum(axis=1) - m * (m + 1) / 2.0
    return (u / (m * n)).mean(axis=1)


def probability_of_improvement(
    x: Any, y: Any, *, n_boot: int = 2000, confidence: float = 0.95, rng: RngLike = None
) -> dict[str, Any]:
    """Probability that a run of X scores higher than a run of Y, averaged over tasks, with a bootstrap CI.

    Per task it is the Mann-Whitney U statistic over ``m * n``: the fraction of (x run, y run) pairs with
    x > y, ties counting 1/2. The CI resamples the runs of x and of y independently within each task.

    Args:
        x: ``(n_runs_x, n_tasks)`` scores of algorithm X; 1-D means one task.
        y: ``(n_runs_y, n_tasks)`` scores of algorithm Y, on the same tasks in the same order.
        n_boot, confidence, rng: as in :func:`stratified_bootstrap_ci`.

    Returns:
        ``{"p": float, "ci": [lo, hi]}``.

    Raises:
        ValueError: bad scores, different numbers of tasks, bad ``n_boot`` or ``confidence``.
    """
    # By hand: x and y are resampled independently within each task (stratified), which scipy does not offer.
    _check_settings(n_boot, confidence)
    xm, ym = _as_scores(x, "x"), _as_scores(y, "y")
    if xm.shape[1] != ym.shape[1]:
        raise ValueError(f"x and y must have the same number of tasks (columns), got {xm.shape[1]} and {ym.shape[1]}")
    p = float(_poi(xm[None], ym[None])[0])
    boot = _boot((xm, ym), _poi, n_boot, np.random.default_rng(rng), bytes_factor=6.0)
    lo, hi = _percentile_ci(boot, confidence)
    return {"p": p, "ci": [float(lo), float(hi)]}


def performance_profile(
    scores: Any, taus: Any, *, n_boot: int = 2000, confidence: float = 0.95, rng: RngLike = None
) -> dict[str, list[float]]:
    """Run-score distribution: for each threshold tau, the fraction of runs (all runs of all tasks) above it.

    Args:
        scores: ``(n_runs, n_tasks)`` matrix; 1-D means one task.
        taus: thresholds, a scalar or 1-D array (NaN not allowed; +-inf allowed).
        n_boot, confidence, rng: as in :func:`stratified_bootstrap_ci` (the bands are pointwise).

    Returns:
        ``{"taus", "fraction", "lo", "hi"}`` as lists of floats; ``fraction[i]`` is the share of scores
        strictly greater than ``taus[i]``.

    Raises:
        ValueError: bad scores or taus, bad ``n_boot`` or ``confidence``.
    """
    # By hand: no dependency but rliable (not worth its dependencies) gives profiles with stratified bands.
    _check_settings(n_boot, confidence)
    mat = _as_scores(scores, "scores")
    try:
        tau = np.atleast_1d(np.asarray(taus, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"taus must be numbers ({exc})") from None
    if tau.ndim != 1 or tau.size == 0 or np.isnan(tau).any():
        raise ValueError(f"taus must be a non-empty 1-D array without NaN, got shape {tau.shape}")

    def fractions(res: np.ndarray) -> np.ndarray:
        return (res.reshape(res.shape[0], -1)[:, :, None] > tau).mean(axis=1)

    point = fractions(mat[None])[0]
    boot = _boot((mat,), fractions, n_boot, np.random.default_rng(rng), bytes_factor=3.0 + tau.size / 8.0)
    lo, hi = _percentile_ci(boot, confidence)
    return {"taus": tau.tolist(), "fraction": point.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}


def curve_iqm(
    scores_over_time: Any, *, n_boot: int = 2000, confidence: float = 0.95, rng: RngLike = None
) -> dict[str, list[float]]:
    """IQM at each point of a learning curve, with pointwise stratified-bootstrap CIs (sample-efficiency curves).

    Runs are resampled as whole curves (the same resampled runs at every point), as rliable does.

    Args:
        scores_over_time: ``(n_runs, n_points)`` for one task (a column per evaluation step), or
            ``(n_runs, n_tasks, n_points)``, in which case the IQM pools runs and tasks at each point.
        n_boot, confidence, rng: as in :func:`stratified_bootstrap_ci`.

    Returns:
        ``{"iqm", "lo", "hi"}``, lists of floats of length ``n_points``.

    Raises:
        ValueError: not 2-D or 3-D, empty or NaN/inf scores, bad ``n_boot`` or ``confidence``.
    """
    # By hand: whole curves resampled within each task, a stratified bootstrap scipy does not offer.
    _check_settings(n_boot, confidence)
    arr = _as_array(scores_over_time, "scores_over_time")
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise ValueError(
            f"scores_over_time must be (n_runs, n_points) or (n_runs, n_tasks, n_points), got shape {arr.shape}"
        )

    def iqms(res: np.ndarray) -> np.ndarray:
        return _trim(res.reshape(res.shape[0], -1, res.shape[-1]), axis=1)

    point = iqms(arr[None])[0]
    lo, hi = _percentile_ci(_boot((arr,), iqms, n_boot, np.random.default_rng(rng)), confidence)
    return {"iqm": point.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}
