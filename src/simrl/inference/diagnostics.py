"""How good is a posterior? Held-out accuracy, expected coverage, the observation, a predictive check.

Every function returns a JSON-ready dict (plain floats, lists and strings).

* :func:`accuracy`: over held-out simulations ``(theta_j, x_j)`` from the prior, the error of the
  posterior mean and the log density of the truth.
* :func:`coverage`: the expected-coverage test of Hermans et al. (2022, "A trust crisis in
  simulation-based inference?"): the truth of a held-out simulation lies in the posterior's
  highest-density region of level ``c`` iff fewer than a fraction ``c`` of posterior draws have a
  higher density than the truth; a calibrated posterior covers a fraction ``c`` of the truths, an
  overconfident one fewer. Central per-parameter intervals too.
* :func:`at_observation`: the posterior at ``x_o``: mean, MAP, std, quantiles and, given the truth,
  its error and whether the 90% intervals hold it.
* :func:`predictive_check`: simulate from posterior draws and from prior draws and compare their
  summaries with the observation's, z-scored by the prior predictive spread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from simrl.inference.posterior import MDNPosterior

LEVELS = (0.5, 0.9, 0.95)


def _levels_key(c: float) -> str:
    return f"{c:g}"


def hpd_levels(posterior: MDNPosterior, theta: np.ndarray, x: np.ndarray, *, samples: int, seed: int) -> np.ndarray:
    """For each held-out ``(theta_j, x_j)``: the level of the smallest HPD region holding ``theta_j``.

    That is the fraction of ``samples`` posterior draws at ``x_j`` with a higher density than
    ``theta_j``; uniform on [0, 1] for a calibrated posterior. Shape (B,).
    """
    draws = posterior.sample_batch(samples, x, seed=seed)  # (n, B, d)
    lq_draws = posterior.log_prob_batch(draws, x)  # the box truncation shifts both sides alike
    lq_truth = posterior.log_prob_batch(np.asarray(theta, dtype=np.float64)[None], x)[0]
    return np.mean(lq_draws > lq_truth[None], axis=0)


def coverage(
    posterior: MDNPosterior,
    theta: np.ndarray,
    x: np.ndarray,
    *,
    levels: Sequence[float] = LEVELS,
    samples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Empirical coverage of the ``levels`` credible regions on held-out simulations.

    Args:
        posterior: the posterior to test.
        theta: (B, d) held-out parameters, drawn from the prior the posterior was trained under.
        x: (B, S) their summaries.
        levels: credibility levels in (0, 1).
        samples: posterior draws per held-out simulation.
        seed: seeds the draws.

    Returns:
        ``{"n", "levels", "hpd": {level: coverage}, "central": {name: {level: coverage}},
        "curve": {"level": [...], "coverage": [...]}}`` (levels as strings such as ``"0.9"``);
        ``curve`` is the HPD coverage at 0, 0.05, ..., 1 for an expected-coverage plot.
    """
    theta = np.asarray(theta, dtype=np.float64)
    alpha = hpd_levels(posterior, theta, x, samples=samples, seed=seed)
    draws = posterior.sample_batch(samples, x, seed=seed + 1)
    central: dict[str, dict[str, float]] = {}
    for i, name in enumerate(posterior.prior.names):
        central[name] = {}
        for c in levels:
            lo, hi = np.quantile(draws[:, :, i], [(1 - c) / 2, (1 + c) / 2], axis=0)
            central[name][_levels_key(c)] = float(np.mean((lo <= theta[:, i]) & (theta[:, i] <= hi)))
    grid = np.linspace(0.0, 1.0, 21)
    return {
        "n": len(theta),
        "samples": samples,
        "levels": [float(c) for c in levels],
        "hpd": {_levels_key(c): float(np.mean(alpha < c)) for c in levels},
        "central": central,
        "curve": {"level": grid.round(4).tolist(), "coverage": [float(np.mean(alpha < c)) for c in grid]},
    }


def accuracy(
    posterior: MDNPosterior, theta: np.ndarray, x: np.ndarray, *, samples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Held-out accuracy: error of the posterior mean and log density of the truth.

    Returns:
        ``{"n", "mean_abs_error": {name: float}, "rmse": {name: float}, "prior_rmse": {name: float},
        "log_prob_truth": {"mean", "median"}}``. ``prior_rmse`` (guessing the prior's centre) is
        the scale to read the error against; the log density is that of the box-truncated posterior.
    """
    theta = np.asarray(theta, dtype=np.float64)
    draws = posterior.sample_batch(samples, x, seed=seed)
    err = draws.mean(axis=0) - theta
    centre = (posterior.prior.low + posterior.prior.high) / 2
    lq = posterior.log_prob_batch(theta[None], x)[0] - np.log(posterior.mass_in_box(x, n=samples, seed=seed + 1))
    names = posterior.prior.names
    return {
        "n": len(theta),
        "mean_abs_error": {n: float(np.mean(np.abs(err[:, i]))) for i, n in enumerate(names)},
        "rmse": {n: float(np.sqrt(np.mean(err[:, i] ** 2))) for i, n in enumerate(names)},
        "prior_rmse": {n: float(np.sqrt(np.mean((theta[:, i] - centre[i]) ** 2))) for i, n in enumerate(names)},
        "log_prob_truth": {"mean": float(np.mean(lq)), "median": float(np.median(lq))},
    }


def at_observation(
    posterior: MDNPosterior,
    x_o: np.ndarray,
    truth: np.ndarray | None = None,
    *,
    samples: int = 10_000,
    level: float = 0.9,
    seed: int = 0,
) -> dict[str, Any]:
    """The posterior at ``x_o`` and, given the true parameters (d,), how well it holds them.

    Returns:
        ``{"mean", "map", "std", "quantiles": {"0.05", "0.5", "0.95"}}`` as {name: float} dicts and,
        with ``truth``: ``"truth"``, ``"abs_error"`` (of the mean), ``"in_central"`` ({name: bool}:
        inside the central ``level`` interval), ``"in_hpd"`` (inside the ``level`` HPD region) and
        ``"hpd_level"`` (the level of the smallest HPD region holding the truth).
    """
    names = posterior.prior.names
    draws = posterior.sample(samples, x_o, seed=seed)
    lo_q, hi_q = (1 - level) / 2, (1 + level) / 2

    def named(v: np.ndarray) -> dict[str, float]:
        return {n: float(v[i]) for i, n in enumerate(names)}

    out: dict[str, Any] = {
        "mean": named(draws.mean(axis=0)),
        "map": named(posterior.map(x_o, seed=seed)),
        "std": named(draws.std(axis=0)),
        "quantiles": {f"{q:g}": named(np.quantile(draws, q, axis=0)) for q in (lo_q, 0.5, hi_q)},
        "level": level,
    }
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64).reshape(len(names))
        lo, hi = np.quantile(draws, [lo_q, hi_q], axis=0)
        x = posterior._x(x_o)
        alpha = float(hpd_levels(posterior, truth[None], x, samples=samples, seed=seed + 1)[0])
        out.update(
            truth=named(truth),
            abs_error=named(np.abs(draws.mean(axis=0) - truth)),
            in_central={n: bool(lo[i] <= truth[i] <= hi[i]) for i, n in enumerate(names)},
            hpd_level=alpha,
            in_hpd=bool(alpha < level),
        )
    return out


def predictive_check(
    posterior: MDNPosterior,
    x_o: np.ndarray,
    simulator: Callable[[np.ndarray, int], np.ndarray],
    *,
    draws: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Posterior predictive check against the prior predictive.

    Simulates ``draws`` parameters from the posterior at ``x_o`` and as many from the prior with
    ``simulator(theta, round)`` (called with rounds 1000 and 1001: initial states of their own),
    z-scores every summary by the prior predictive's spread, and measures each simulation's
    root-mean-square z distance to ``x_o``.

    Returns:
        ``{"posterior": {"median", "mean", "q90"}, "prior": {...}, "ratio" (posterior median /
        prior median; well below 1 when the posterior explains the observation),
        "mean_z": [per summary: mean z of the posterior predictive; near 0 when it is centred on x_o],
        "draws"}``.
    """
    x_o = posterior._x(x_o)[0]
    rng = np.random.default_rng(seed)
    theta_post = posterior.sample(draws, x_o, seed=seed)
    theta_prior = posterior.prior.sample(draws, rng)
    x_post = np.asarray(simulator(theta_post, 1000), dtype=np.float64)
    x_prior = np.asarray(simulator(theta_prior, 1001), dtype=np.float64)
    scale = x_prior.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z_post = (x_post - x_o) / scale
    z_prior = (x_prior - x_o) / scale

    def stats(z: np.ndarray) -> dict[str, float]:
        d = np.sqrt(np.mean(z * z, axis=1))
        return {"median": float(np.median(d)), "mean": float(np.mean(d)), "q90": float(np.quantile(d, 0.9))}

    post, prior = stats(z_post), stats(z_prior)
    return {
        "draws": draws,
        "posterior": post,
        "prior": prior,
        "ratio": post["median"] / prior["median"] if prior["median"] > 0 else float("nan"),
        "mean_z": z_post.mean(axis=0).tolist(),
    }
