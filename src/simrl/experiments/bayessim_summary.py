"""What a BayesSim run found, as frozen dataclasses, and the functions that write it to JSON.

bayessim.py computes a :class:`BayesSimSummary`, :func:`write_summary` writes it (``summary.json``) and
bayessim_report.py renders it. ``to_json`` keeps the layout summary.json has always had::

    {"true_params": {name: value},
     "inference": {"posterior_mean": ..., ..., "fit_seconds": s, "diagnostics": {"heldout", "coverage", "ppc"}},
     "systems": {system: {name: value}},
     "results": {system: {"uniform" | "posterior": {"returns", "seed_means", "iqm", "iqm_ci", ..., "n_runs"}}},
     "improvement_percent": {system: {"percent", "ci", "p_posterior_better", "p_ci"}, "Overall": {"percent", "ci"}},
     "robustness": {"axes": {name: [values]}, "maps": {method: [[...]]}}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

CI = tuple[float, float]


def _ci(values: Sequence[float]) -> CI:
    lo, hi = values
    return float(lo), float(hi)


def _plain(obj: Any) -> Any:
    """Tuples and arrays as lists, mappings as dicts, all the way down: what ``json.dumps`` writes."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, tuple | list):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


@dataclass(frozen=True)
class MethodResult:
    """One method's policies (one per training seed) on one system, with statistics over seeds."""

    returns: tuple[float, ...]
    """Every evaluation episode of every seed, seed after seed."""
    seed_means: tuple[float, ...]
    """One score per seed: its policy's mean return."""
    iqm: float
    iqm_ci: CI
    mean: float
    mean_ci: CI
    median: float
    median_ci: CI
    n_runs: int

    @classmethod
    def of(cls, returns: Sequence[np.ndarray], seed_means: np.ndarray, stats: Mapping[str, Any]) -> MethodResult:
        """From each seed's returns, their means, and ``simrl.evaluation.stats.aggregate`` of those means."""
        return cls(
            returns=tuple(np.concatenate(returns).tolist()),
            seed_means=tuple(np.asarray(seed_means, dtype=np.float64).tolist()),
            iqm=float(stats["iqm"]),
            iqm_ci=_ci(stats["iqm_ci"]),
            mean=float(stats["mean"]),
            mean_ci=_ci(stats["mean_ci"]),
            median=float(stats["median"]),
            median_ci=_ci(stats["median_ci"]),
            n_runs=int(stats["n_runs"]),
        )

    def to_json(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass(frozen=True)
class Improvement:
    """Posterior over uniform randomization: ``(posterior - uniform) / |uniform|`` of the means over seeds, in %."""

    percent: float
    ci: CI | None
    """95% bootstrap CI resampling seeds in pairs; None with one seed."""
    p_posterior_better: float | None = None
    """Probability of improvement over seeds, per system (None for the sum over systems)."""
    p_ci: CI | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"percent": self.percent, "ci": _plain(self.ci)}
        if self.p_posterior_better is not None:
            out.update(p_posterior_better=self.p_posterior_better, p_ci=_plain(self.p_ci))
        return out


@dataclass(frozen=True)
class SystemResult:
    """Both methods on one test system, and how much posterior randomization improves on uniform."""

    params: Mapping[str, float]
    """The system's simulator parameters."""
    uniform: MethodResult
    posterior: MethodResult
    improvement: Improvement

    def method(self, name: str) -> MethodResult:
        """The result of ``name`` (``uniform`` or ``posterior``)."""
        return {"uniform": self.uniform, "posterior": self.posterior}[name]


@dataclass(frozen=True, eq=False)
class Robustness:
    """Each method's mean return over a grid of the prior box (mean over its seeds' policies)."""

    axes: Mapping[str, np.ndarray]
    """Parameter name -> its grid values, in the maps' axis order."""
    maps: Mapping[str, np.ndarray]
    """Method -> mean return per grid cell."""

    def to_json(self) -> dict[str, Any]:
        return {"axes": _plain(self.axes), "maps": _plain(self.maps)}


@dataclass(frozen=True)
class PosteriorSummary:
    """The posterior at the real system's observation, against the true parameters, and its diagnostics."""

    posterior_mean: Mapping[str, float]
    posterior_std: Mapping[str, float]
    map: Mapping[str, float]
    ci90: Mapping[str, CI]
    """The central 90% credible interval of each parameter."""
    truth_in_ci90: Mapping[str, bool]
    abs_error_of_mean: Mapping[str, float]
    hpd_level_of_truth: float
    log_prob_truth: float
    fit_seconds: float
    heldout: Mapping[str, Any]
    """Accuracy on held-out simulations: ``simrl.inference.diagnostics.accuracy``'s JSON record."""
    coverage: Mapping[str, Any]
    """Coverage of the credible regions: ``diagnostics.coverage``'s record."""
    ppc: Mapping[str, Any]
    """Posterior predictive check: ``diagnostics.predictive_check``'s record."""

    def at_truth_json(self) -> dict[str, Any]:
        """Everything but the diagnostics."""
        skip = {"heldout", "coverage", "ppc"}
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name not in skip}

    def diagnostics_json(self) -> dict[str, Any]:
        return {"heldout": _plain(self.heldout), "coverage": _plain(self.coverage), "ppc": _plain(self.ppc)}

    def to_json(self) -> dict[str, Any]:
        """summary.json's ``inference``: the figures at the truth, the diagnostics under ``diagnostics``."""
        return {**self.at_truth_json(), "diagnostics": self.diagnostics_json()}


@dataclass(frozen=True)
class BayesSimSummary:
    """What a BayesSim run found: the posterior, both methods on every system, robustness over the prior box."""

    true_params: Mapping[str, float]
    inference: PosteriorSummary
    systems: Mapping[str, SystemResult]
    """The real system first, then the named test systems."""
    overall: Improvement
    """The improvement of the seed means summed over all systems."""
    robustness: Robustness

    def to_json(self) -> dict[str, Any]:
        """The summary.json layout (module docstring)."""
        return {
            "true_params": _plain(self.true_params),
            "inference": self.inference.to_json(),
            "systems": {s: _plain(r.params) for s, r in self.systems.items()},
            "results": {
                s: {"uniform": r.uniform.to_json(), "posterior": r.posterior.to_json()} for s, r in self.systems.items()
            },
            "improvement_percent": {
                **{s: r.improvement.to_json() for s, r in self.systems.items()},
                "Overall": self.overall.to_json(),
            },
            "robustness": self.robustness.to_json(),
        }


def write_json(path: Path, obj: Any) -> Path:
    """``obj`` as indented JSON, written atomically."""
    from simrl.utils import atomic

    atomic.write_text(path, json.dumps(obj, indent=2) + "\n")
    return path


def write_summary(folder: Path, summary: BayesSimSummary) -> Path:
    """FOLDER/summary.json."""
    return write_json(folder / "summary.json", summary.to_json())


def write_diagnostics(folder: Path, inference: PosteriorSummary) -> Path:
    """FOLDER/diagnostics.json: the figures at the truth and the diagnostics, side by side."""
    return write_json(folder / "diagnostics.json", {**inference.at_truth_json(), **inference.diagnostics_json()})
