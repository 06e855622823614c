"""Search spaces for ``simrl tune``: plain YAML, parsed once into frozen :class:`Param` records.

A space maps hyper-parameter names (dotted names reach into mappings: ``policy_kwargs.net_arch``) to
one of::

    learning_rate: {type: float, low: 1.0e-5, high: 2.0e-3, log: true}
    n_epochs: {type: int, low: 1, high: 20}                    # log: true allowed, low >= 1 then
    policy_kwargs.net_arch: {type: categorical, choices: [[64, 64], [256, 256]]}

Categorical choices are any plain YAML value. Optuna stores only scalars, so a choice that is not a
scalar (a list, a mapping) is shown to Optuna as its YAML flow text (``[64, 64]``) and turned back into
the value here. The defaults for each algorithm are package data (``configs/spaces/<algo>.yaml``).

A leaf module: Optuna is imported only by :meth:`Param.distribution`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from simrl.errors import ConfigError
from simrl.experiments.hyperparams import read_yaml

TYPES = ("float", "int", "categorical")
_FIELDS = {"float": {"low", "high", "log"}, "int": {"low", "high", "log"}, "categorical": {"choices"}}


def _label(value: Any) -> Any:
    """The scalar Optuna stores for a categorical choice (the value itself when it is a scalar)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()


@dataclass(frozen=True)
class Param:
    """One searched hyper-parameter."""

    name: str
    """Its (possibly dotted) name: ``learning_rate``, ``policy_kwargs.net_arch``."""
    type: str
    """``float``, ``int`` or ``categorical``."""
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    """Categorical choices as plain values (lists and mappings allowed)."""

    @property
    def labels(self) -> tuple[Any, ...]:
        """The scalars Optuna sees for :attr:`choices`."""
        return tuple(_label(c) for c in self.choices)

    def distribution(self) -> Any:
        """This parameter's ``optuna.distributions`` object."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.type == "float":
            return FloatDistribution(float(self.low), float(self.high), log=self.log)  # type: ignore[arg-type]
        if self.type == "int":
            return IntDistribution(int(self.low), int(self.high), log=self.log)  # type: ignore[arg-type]
        return CategoricalDistribution(self.labels)

    def value(self, stored: Any) -> Any:
        """The hyper-parameter value of what Optuna stored for this parameter (a label back to its choice)."""
        if self.type == "categorical":
            for label, choice in zip(self.labels, self.choices, strict=True):
                if label == stored and type(label) is type(stored):
                    return choice
            raise ConfigError(f"'{stored}' is not a choice of search parameter '{self.name}'")
        return int(stored) if self.type == "int" else float(stored)

    def to_doc(self) -> dict[str, Any]:
        """This parameter as a space document's entry (what :func:`parse_space` reads back)."""
        if self.type == "categorical":
            return {"type": self.type, "choices": list(self.choices)}
        doc: dict[str, Any] = {"type": self.type, "low": self.low, "high": self.high}
        return {**doc, "log": True} if self.log else doc

    def narrowed(self, center: Any, factor: float) -> Param:
        """The range ``factor`` times narrower around ``center``, inside this one: [c / f, c * f] on a log
        scale, a width of (high - low) / f otherwise (an int range rounded outwards). Categorical: itself."""
        if self.type == "categorical":
            return self
        c = min(max(float(center), float(self.low)), float(self.high))  # type: ignore[arg-type]
        if self.log:
            low, high = c / factor, c * factor
        else:
            half = (float(self.high) - float(self.low)) / (2 * factor)  # type: ignore[arg-type]
            low, high = c - half, c + half
        low, high = max(low, float(self.low)), min(high, float(self.high))  # type: ignore[arg-type]
        if self.type == "int":
            low, high = math.floor(low), math.ceil(high)
        return Param(self.name, self.type, low=low, high=high, log=self.log)

    def extremes(self) -> list[Any]:
        """The values that bound this parameter (low and high, or every choice): what a space check tries."""
        if self.type == "categorical":
            return list(self.choices)
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]  # type: ignore[arg-type]


def parse_space(doc: Any, origin: str) -> dict[str, Param]:
    """The parameters of a space document (a mapping of names to ``{type: ...}`` mappings).

    Raises:
        ConfigError: one line naming the parameter: an unknown type or field, a missing or non-numeric
            bound, low > high, ``log`` with low <= 0, an int bound that is not an integer, empty choices.
    """
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"search space {origin} must be a non-empty mapping of parameter names to ranges")
    return {str(name): _parse_param(str(name), spec, origin) for name, spec in doc.items()}


def _parse_param(name: str, spec: Any, origin: str) -> Param:
    where = f"search parameter '{name}' in {origin}"
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"{where} must be a mapping with a type", f"type: one of {', '.join(TYPES)}")
    kind = spec["type"]
    if kind not in TYPES:
        raise ConfigError(f"{where} has unknown type '{kind}'", f"choose one of: {', '.join(TYPES)}")
    extra = set(spec) - _FIELDS[kind] - {"type"}
    if extra:
        raise ConfigError(f"{where} has unknown field(s) {', '.join(sorted(map(str, extra)))} for type {kind}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where} needs a non-empty list of choices")
        labels = [_label(c) for c in choices]
        if len({(type(x), x) for x in labels}) != len(labels):
            raise ConfigError(f"{where} lists a choice twice")
        return Param(name, kind, choices=tuple(choices))
    bounds = []
    for field in ("low", "high"):
        v = spec.get(field)
        if isinstance(v, str):  # YAML 1.1 reads 1e-5 (no dot) as a string
            with contextlib.suppress(ValueError):
                v = float(v)
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
            raise ConfigError(f"{where} needs a number for {field}, got '{v}'")
        if kind == "int" and not float(v).is_integer():
            raise ConfigError(f"{where} is an int range but {field} is {v}")
        bounds.append(v)
    low, high = bounds
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log must be true or false, got '{log}'")
    if low > high:
        raise ConfigError(f"{where} has low {low:g} > high {high:g}")
    if log and low <= 0:
        raise ConfigError(f"{where} has log: true with low {low:g} <= 0", "a log range needs low > 0")
    return Param(name, kind, low=low, high=high, log=log)


def space_doc(space: dict[str, Param]) -> dict[str, Any]:
    """A space as the YAML document it is read from (the study folder's space.yaml)."""
    return {name: p.to_doc() for name, p in space.items()}


def read_space(path: str | Path) -> dict[str, Param]:
    """A user's space file (``--space FILE``)."""
    return parse_space(read_yaml(path, "search space"), f"'{path}'")


def default_space_path(algo: str) -> Path:
    return Path(str(resources.files("simrl") / "configs" / "spaces" / f"{algo}.yaml"))


def default_space(algo: str, env_id: str | None = None) -> dict[str, Param]:
    """The shipped space of ``algo`` for ``env_id`` (ConfigError if there is none).

    A shipped file is one flat space, or blocks: ``default:`` and env ids, an env's block replacing the
    default for it (a space tailored to an env leaves parameters out, so the blocks do not merge).
    """
    path = default_space_path(algo)
    if not path.is_file():
        raise ConfigError(f"no default search space for '{algo}'", "give one with --space FILE")
    doc = read_yaml(path, "search space")
    origin = f"configs/spaces/{algo}.yaml"
    if isinstance(doc, dict) and "default" in doc:
        key = env_id if env_id in doc else "default"
        return parse_space(doc[key], f"{origin} ({key})")
    return parse_space(doc, origin)
