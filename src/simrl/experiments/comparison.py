"""What ``simrl compare`` (and ``simrl mbrl``, which compares arms) found, as frozen dataclasses.

experiments/reporting.py computes a :class:`Comparison` (``compute_comparison``), writes it (``write_comparison``:
compare.json) and renders it (``render_comparison``: plots and page). ``to_json`` keeps compare.json's layout::

    {"groups": [{"group", "runs", "iqm", "iqm_ci", "mean", "mean_ci", "median", "median_ci", "n_runs", "warning",
                 "info": {reward_* term or metric_* measure: mean over runs}}],
     "probability_of_improvement": [{"x", "y", "p_x_better", "ci"}],
     "group_by": [key, ...],
     "robustness": {"axes": {name: [values]}, "maps": {group: [...]}, "diff_to_first": {group: [...]}}}

(``robustness`` only with a grid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

CI = tuple[float, float]


class Curve(NamedTuple):
    """A group's IQM of the evaluation return over training, with its pointwise 95% CI."""

    timesteps: np.ndarray
    iqm: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


class Profile(NamedTuple):
    """A group's performance profile: the fraction of runs scoring above each tau, with its 95% band."""

    taus: np.ndarray
    fraction: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


@dataclass(frozen=True)
class GroupStats:
    """One group's final scores (each run's mean return in its final evaluation), with stratified-bootstrap CIs."""

    group: str
    runs: tuple[str, ...]
    iqm: float
    iqm_ci: CI | None
    """None for a group of one run: no interval can be computed from it."""
    mean: float
    mean_ci: CI | None
    median: float
    median_ci: CI | None
    n_runs: int
    warning: str | None
    """Set when the group has too few runs for a trustworthy CI."""
    info: dict[str, float] = field(default_factory=dict)
    """Mean over the group's runs of each ``reward_*`` term and ``metric_*`` measure of their final
    evaluations (the keys every run has)."""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@dataclass(frozen=True)
class PairResult:
    """The probability that a run of group ``x`` scores higher than a run of group ``y``, with its 95% CI."""

    x: str
    y: str
    p_x_better: float
    ci: CI | None
    """None when either group has one run."""

    def to_json(self) -> dict[str, Any]:
        return {
            "x": self.x,
            "y": self.y,
            "p_x_better": self.p_x_better,
            "ci": None if self.ci is None else list(self.ci),
        }


@dataclass(frozen=True)
class RunScore:
    """One run of the comparison: what the page's table of runs shows."""

    dir: str
    group: str
    final_mean: float
    timesteps: int
    info: dict[str, float] = field(default_factory=dict)
    """The final evaluation's mean of each ``reward_*`` term and ``metric_*`` measure."""


@dataclass(frozen=True, eq=False)
class GridComparison:
    """Each group's robustness map (mean over its runs' final policies) and its difference to the first group's."""

    axes: tuple[tuple[str, np.ndarray], ...]
    maps: Mapping[str, np.ndarray]
    diff_to_first: Mapping[str, np.ndarray]
    """Every group but the first -> its map minus the first group's."""

    def to_json(self) -> dict[str, Any]:
        return {
            "axes": {name: values.tolist() for name, values in self.axes},
            "maps": {g: m.tolist() for g, m in self.maps.items()},
            "diff_to_first": {g: d.tolist() for g, d in self.diff_to_first.items()},
        }


@dataclass(frozen=True, eq=False)
class Comparison:
    """Groups of runs compared: statistics per group, per pair of groups, curves, profiles, robustness maps."""

    groups: tuple[GroupStats, ...]
    pairs: tuple[PairResult, ...]
    group_by: tuple[str, ...]
    runs: tuple[RunScore, ...]
    curves: Mapping[str, Curve]
    profiles: Mapping[str, Profile]
    robustness: GridComparison | None = None

    def to_json(self) -> dict[str, Any]:
        """compare.json: ``groups``, ``probability_of_improvement``, ``group_by`` (and ``robustness`` with a grid)."""
        out: dict[str, Any] = {
            "groups": [g.to_json() for g in self.groups],
            "probability_of_improvement": [p.to_json() for p in self.pairs],
            "group_by": list(self.group_by),
        }
        if self.robustness is not None:
            out["robustness"] = self.robustness.to_json()
        return out


@dataclass(frozen=True)
class ArmTiming:
    """One arm's curve against training wall time, and when it first reached the target."""

    arm: str
    curve: Curve  # x: the median over runs of training seconds at each evaluation
    steps_to_target: tuple[int | None, ...]  # per run, in seed order; None: never reached
    seconds_to_target: tuple[float | None, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "arm": self.arm,
            "seconds": self.curve.timesteps.tolist(),
            "iqm": self.curve.iqm.tolist(),
            "lo": self.curve.lo.tolist(),
            "hi": self.curve.hi.tolist(),
            "steps_to_target": list(self.steps_to_target),
            "seconds_to_target": list(self.seconds_to_target),
        }


@dataclass(frozen=True)
class MBRLResult:
    """What :func:`run_experiment` wrote: the comparison over arms and the timing of each."""

    out: Path
    env_id: str
    timesteps: int
    seeds: tuple[int, ...]
    target: float | None
    comparison: Comparison
    timings: tuple[ArmTiming, ...]
    html: Path

    def to_json(self) -> dict[str, Any]:
        return {
            "env_id": self.env_id,
            "timesteps": self.timesteps,
            "seeds": list(self.seeds),
            "target": self.target,
            "comparison": self.comparison.to_json(),
            "timings": [t.to_json() for t in self.timings],
        }
