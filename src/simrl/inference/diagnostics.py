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
  summaries with the observation's: is ``x_o`` a typical posterior predictive draw, and how much
  narrower than the prior predictive is the posterior predictive?
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
    """Posterior predictive check, against the prior predictive.

    Simulates ``draws`` parameters from the posterior at ``x_o`` and as many from the prior with
    ``simulator(theta, round)`` (rounds 1000 and 1001: initial states of their own) and compares
    each summary of the observation with both.

    Returns:
        ``{"draws", "summaries": {"z", "percentile", "width_ratio"}, "max_abs_z", "distance"}``:
        per summary, ``z = (x_o - posterior predictive mean) / its std`` (a consistent posterior
        keeps every ``|z|`` within 2-3), ``percentile`` (the fraction of posterior predictive
        summaries below ``x_o``) and ``width_ratio`` (posterior over prior predictive std: near 0
        for summaries the parameters determine, near 1 for those only initial states move);
        ``distance``: per simulation the root-mean-square of ``(x - x_o) / prior predictive std``,
        ``{"posterior": {"median", "mean"}, "prior": {...}, "ratio"}`` (median over median).
    """
    x_o = posterior._x(x_o)[0]
    x_post = np.asarray(simulator(posterior.sample(draws, x_o, seed=seed), 1000), dtype=np.float64)
    x_prior = np.asarray(simulator(posterior.prior.sample(draws, np.random.default_rng(seed)), 1001), dtype=np.float64)
    std_post, std_prior = x_post.std(axis=0), x_prior.std(axis=0)
    tiny = np.finfo(np.float64).tiny
    z = (x_o - x_post.mean(axis=0)) / np.maximum(std_post, tiny)

    def dist(xs: np.ndarray) -> dict[str, float]:
        d = np.sqrt(np.mean(((xs - x_o) / np.maximum(std_prior, tiny)) ** 2, axis=1))
        return {"median": float(np.median(d)), "mean": float(np.mean(d))}

    post, prior = dist(x_post), dist(x_prior)
    return {
        "draws": draws,
        "summaries": {
            "z": z.tolist(),
            "percentile": np.mean(x_post < x_o, axis=0).tolist(),
            "width_ratio": (std_post / np.maximum(std_prior, tiny)).tolist(),
        },
        "max_abs_z": float(np.max(np.abs(z))),
        "distance": {"posterior": post, "prior": prior, "ratio": post["median"] / max(prior["median"], tiny)},
    }
