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
    uncertainty_penalty: float = 0.0
    """Pessimism: each planned step costs this times the spread of the predicted next states (members, or
    particles with ``ts``; the norm of their std), so plans keep to what the model knows. 0: off."""
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
        if not (self.uncertainty_penalty >= 0 and self.uncertainty_penalty != float("inf")):
            raise ConfigError(f"uncertainty_penalty must be finite and at least 0, got {self.uncertainty_penalty}")
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


# SAC keys MBPO sets itself: when SAC learns and how often is MBPO's loop, not the sac: block's.
MBPO_OWNS_SAC = {
    "learning_starts": "init_steps",
    "train_freq": "updates_per_step",
    "gradient_steps": "updates_per_step",
    "normalize": None,
    "n_envs": None,
}


@dataclass(frozen=True)
class MBPOSettings:
    """MBPO (Janner et al. 2019): SAC trained mostly on short rollouts of a learned model from real states.

    Defaults are the paper's MuJoCo settings (and mbrl-lib's ``mbpo_*`` overrides where it has none).
    """

    real_ratio: float = 0.05
    """Fraction of each SAC batch drawn from real transitions; the rest from the model buffer (paper: 0.05)."""
    rollout_batch: int = 100_000
    """Real start states per round of model rollouts (paper: 1e5; mbrl-lib: 400 per step x 250 steps)."""
    rollout_schedule: tuple[int, ...] = (0, 0, 1, 1)
    """``[from_step, to_step, min_length, max_length]``: the model rollout length is ``min_length`` up to
    env step ``from_step``, ``max_length`` from ``to_step`` on, and grows linearly (rounded down) between.
    mbrl-lib's schedule in env steps rather than epochs; ``[0, 0, 1, 1]``: always one step."""
    model_train_freq: int = 250
    """Env steps between model fits; every fit is followed by a round of model rollouts (paper: 250)."""
    model_retain: int = 4
    """Rollout rounds the model buffer holds at the longest rollout length: its capacity is
    ``model_retain * rollout_batch * max_length`` (paper: one epoch of 1000 steps, 4 rounds)."""
    updates_per_step: int = 20
    """SAC gradient steps per env step (the paper's G = 20)."""
    init_steps: int = 5000
    """Steps of uniformly random actions before the first model fit; SAC learns from then on
    (its ``learning_starts``; mbrl-lib: 5000)."""
    model: ModelSettings = field(default_factory=ModelSettings)
    """The dynamics ensemble and its training (``model:`` block)."""
    sac: dict[str, Any] = field(default_factory=dict)
    """SB3 SAC's hyper-parameters (``sac:`` block, plain YAML as in configs/sac.yaml), checked as the
    sb3 kind checks them; ``learning_starts``, ``train_freq`` and ``gradient_steps`` are MBPO's own."""

    def check(self) -> None:
        """ConfigError for a value out of range (the model's and the sac: block's included)."""
        if not 0.0 <= self.real_ratio <= 1.0:
            raise ConfigError(f"real_ratio must be in [0, 1], got {self.real_ratio}")
        for name in ("rollout_batch", "model_train_freq", "model_retain", "updates_per_step", "init_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        sched = self.rollout_schedule
        if len(sched) != 4 or sched[0] < 0 or sched[1] < sched[0] or min(sched[2:]) < 1:
            raise ConfigError(
                f"rollout_schedule must be [from_step, to_step, min_length, max_length] with "
                f"0 <= from_step <= to_step and lengths >= 1, got {list(sched)}",
                "e.g. --set rollout_schedule=[0,0,1,1]",
            )
        self.model.check()
        self.check_sac()

    def check_sac(self) -> None:
        from simrl.rl import algos

        if not isinstance(self.sac, dict):
            raise ConfigError(f"sac must be a mapping of SAC hyper-parameters, got {self.sac!r}")
        for key, instead in MBPO_OWNS_SAC.items():
            if key in self.sac:
                hint = f"set {instead} instead" if instead else "MBPO does not support it"
                raise ConfigError(f"sac.{key} is set by MBPO itself", hint)
        algos.check_keys("sac", self.sac, "the sac: block")
        algos.check_ranges(algos.check_types("sac", self.sac))

    def rollout_length(self, step: int) -> int:
        """The model rollout length at env step ``step`` (``rollout_schedule``)."""
        start, end, low, high = self.rollout_schedule
        if step <= start:
            return low
        frac = 1.0 if end <= start else min((step - start) / (end - start), 1.0)
        return int(low + frac * (high - low))

    def sac_hyperparams(self) -> dict[str, Any]:
        """The SAC hyper-parameters MBPO trains with: the sac: block and MBPO's loop settings."""
        return {
            **self.sac,
            "learning_starts": self.init_steps,
            "train_freq": 1,
            "gradient_steps": self.updates_per_step,
        }


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
