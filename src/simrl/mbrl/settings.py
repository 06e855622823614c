"""Hyper-parameters of the model-based learners, parsed once from plain mappings into frozen dataclasses.

``simrl train mpc`` reads a flat mapping (the rl-zoo layout of ``configs/mpc.yaml``) with the dynamics
model's settings in a nested ``model:`` block, so ``--set horizon=15`` and ``--set model.hidden=[64,64]``
both work. :func:`from_mapping` turns a mapping into any of these dataclasses, checking names (with a
"did you mean"), types and ranges, so every mistake is a one-line ConfigError before a run folder exists.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from simrl.errors import ConfigError
from simrl.mbrl.models.dynamics import ModelSettings

PLANNERS = ("random", "cem", "icem")
PROPAGATIONS = ("ts", "mean")
LOOP_KEYS = ("n_timesteps", "n_envs", "vec_env")  # the run takes these out; not the learner's

T = TypeVar("T")


@dataclass(frozen=True)
class MPCSettings:
    """MPC with a learned model (PETS with a probabilistic ensemble and ``propagation: ts``)."""

    planner: str = "cem"
    """How action sequences are searched: ``random`` (random shooting), ``cem`` or ``icem``."""
    horizon: int = 25
    """Steps planned ahead."""
    population: int = 500
    """Action sequences scored per iteration (random shooting: all of its candidates)."""
    elites: int = 50
    """Best sequences the CEM/iCEM distribution is refitted to."""
    iterations: int = 5
    """CEM/iCEM refits per planned action."""
    alpha: float = 0.1
    """Momentum of the CEM/iCEM mean and spread: ``new = alpha * old + (1 - alpha) * elites'``."""
    init_std: float = 0.5
    """CEM/iCEM: the sampling spread at every step's first iteration, as a fraction of the half-range."""
    noise_beta: float = 2.0
    """iCEM: exponent of the colored noise's power spectrum (0 white, 2 smooth, as in its paper)."""
    decay: float = 1.25
    """iCEM: the population shrinks by this factor every iteration."""
    keep_elites: float = 0.3
    """iCEM: fraction of the elites carried into the next iteration and the next time step."""
    particles: int = 20
    """Model rollouts per candidate with trajectory sampling (each sticks to one ensemble member)."""
    propagation: str = "ts"
    """``ts``: trajectory sampling (PETS' TS-inf); ``mean``: the elites' mean prediction, one rollout."""
    init_steps: int = 200
    """Steps of uniformly random actions before the first model fit."""
    steps_per_fit: int = 200
    """Environment steps per env between model fits (also the run's checkpoint unit)."""
    model: ModelSettings = field(default_factory=ModelSettings)
    """The dynamics ensemble and its training (``model:`` block)."""

    def check(self) -> None:
        """ConfigError for a value out of range (the model's included)."""
        _one_of("planner", self.planner, PLANNERS)
        _one_of("propagation", self.propagation, PROPAGATIONS)
        for name in ("horizon", "population", "iterations", "particles", "steps_per_fit"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.init_steps < 0:
            raise ConfigError(f"init_steps must be at least 0, got {self.init_steps}")
        self.optimizer().check()
        self.model.check()

    def optimizer(self) -> Any:
        """The trajectory optimiser these settings describe."""
        from simrl.mbrl.planning.optimizers import CEM, ICEM, RandomShooting

        if self.planner == "random":
            return RandomShooting(candidates=self.population)
        if self.planner == "cem":
            return CEM(
                population=self.population,
                elites=self.elites,
                iterations=self.iterations,
                alpha=self.alpha,
                init_std=self.init_std,
            )
        return ICEM(
            population=self.population,
            elites=self.elites,
            iterations=self.iterations,
            alpha=self.alpha,
            init_std=self.init_std,
            noise_beta=self.noise_beta,
            decay=self.decay,
            keep_elites=self.keep_elites,
        )


def _one_of(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got '{value}'")


# ----------------------------------------------------------------------------- mappings -> settings


def known_keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def check_names(cls: type, mapping: Mapping[str, Any], origin: str, extra: tuple[str, ...] = ()) -> None:
    """ConfigError for a key ``cls`` has no field for (``extra`` keys pass), with a "did you mean"."""
    allowed = (*known_keys(cls), *extra)
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(allowed))}"
            raise ConfigError(f"unknown hyper-parameter '{key}' (from {origin})", hint)


def from_mapping(cls: type[T], mapping: Mapping[str, Any] | None, prefix: str = "") -> T:
    """``cls(**mapping)`` with every name and type checked; nested dataclass fields from nested mappings.

    Integral floats become ints where an int is due (``population: 1e3``); a list becomes a tuple.
    Ranges are the dataclass's own ``check()``, called by the caller once the whole tree is built.
    """
    mapping = dict(mapping or {})
    check_names(cls, mapping, "the hyper-parameters given", LOOP_KEYS if not prefix else ())
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in mapping:
            continue
        kwargs[f.name] = _coerce(f"{prefix}{f.name}", mapping[f.name], hints[f.name])
    return cls(**kwargs)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be a mapping of settings, got {value!r}")
        return from_mapping(hint, value, prefix=f"{name}.")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(name, value, options[0])
    if origin is tuple:
        (inner, *_) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name} must be a list, got {value!r}", f"e.g. --set {name}=[64,64]")
        return tuple(_coerce(f"{name}[{i}]", v, inner) for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{name} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a word, got {value!r}")
        return value
    return value


def to_mapping(settings: Any) -> dict[str, Any]:
    """The plain mapping (lists, not tuples) that :func:`from_mapping` reads back to ``settings``."""

    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, tuple | list):
            return [plain(v) for v in x]
        return x

    return plain(dataclasses.asdict(settings))
