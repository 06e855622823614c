"""Simulator parameters: named, bounded, frozen; and samplers that draw them per episode.

Every parametric env declares a :class:`ParamSpace` (``PARAM_SPACE`` on its class). The CLI's
``--env-param`` and ``--randomize``, the batched env's per-episode draws and BayesSim's prior all
go through it, so a name or a value is checked in one place.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrl.errors import EnvError


@dataclass(frozen=True)
class Param:
    """One physical parameter: its default, its bounds (inclusive) and what it means."""

    name: str
    default: float
    low: float
    high: float
    unit: str = ""
    doc: str = ""


class Params(Mapping[str, float]):
    """A frozen, validated assignment of every parameter of a space, in the space's order."""

    __slots__ = ("_space", "_values")

    def __init__(self, space: ParamSpace, values: tuple[float, ...]) -> None:
        self._space = space
        self._values = values

    def __getitem__(self, name: str) -> float:
        return self._values[self._space.index(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(self._space.names)

    def __len__(self) -> int:
        return len(self._values)

    def __hash__(self) -> int:
        return hash(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v:g}" for k, v in self.items())
        return f"Params({inner})"

    @property
    def vector(self) -> np.ndarray:
        return np.array(self._values, dtype=np.float64)


@dataclass(frozen=True)
class ParamSpace:
    """An ordered set of parameters. ``env_id`` only names the owner in error messages."""

    params: tuple[Param, ...]
    env_id: str = "this env"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def low(self) -> np.ndarray:
        return np.array([p.low for p in self.params])

    @property
    def high(self) -> np.ndarray:
        return np.array([p.high for p in self.params])

    def __len__(self) -> int:
        return len(self.params)

    def index(self, name: str) -> int:
        for i, p in enumerate(self.params):
            if p.name == name:
                return i
        known = ", ".join(self.names) or "none"
        raise EnvError(f"unknown parameter '{name}' for {self.env_id}", f"parameters: {known}")

    def get(self, name: str) -> Param:
        return self.params[self.index(name)]

    def check_value(self, name: str, value: object) -> float:
        """Return ``value`` as a float if it is a finite number within ``name``'s bounds."""
        p = self.get(name)
        try:
            x = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise EnvError(f"parameter '{name}' must be a number, got '{value}'") from None
        if not math.isfinite(x) or not p.low <= x <= p.high:
            raise EnvError(
                f"parameter '{name}'={value} is outside its bounds [{p.low:g}, {p.high:g}]",
                f"see 'simrl envs' for {self.env_id}",
            )
        return x

    def defaults(self) -> Params:
        return Params(self, tuple(p.default for p in self.params))

    def make(self, values: Mapping[str, object] | None = None) -> Params:
        """Defaults overridden by ``values``; every name and value checked."""
        values = dict(values or {})
        out = []
        for p in self.params:
            out.append(self.check_value(p.name, values.pop(p.name)) if p.name in values else p.default)
        if values:
            self.index(next(iter(values)))  # raises the unknown-name error
        return Params(self, tuple(out))

    def from_vector(self, vec: np.ndarray) -> Params:
        vec = np.asarray(vec, dtype=np.float64).ravel()
        if vec.shape != (len(self),):
            raise EnvError(f"{self.env_id} has {len(self)} parameters, got a vector of {vec.size}")
        return self.make(dict(zip(self.names, vec.tolist(), strict=True)))

    def updated(self, current: Params, values: Mapping[str, float] | Sequence[float] | np.ndarray) -> Params:
        """An env's ``set_params``: a whole vector in this space's order, or a mapping of some names
        (the others keep ``current``'s values); EnvError for an unknown name, a value out of bounds, a
        vector of the wrong length."""
        if isinstance(values, Mapping):
            return self.make({**dict(current), **values})
        return self.from_vector(np.asarray(values, dtype=np.float64))


class FixedSampler:
    """Every draw is the same parameter vector."""

    def __init__(self, params: Params) -> None:
        self.params = params
        self._vector = params.vector

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.broadcast_to(self._vector, (n, len(self._vector))).copy()


class UniformSampler:
    """Uniform in a box over some parameters, the others fixed."""

    def __init__(self, base: Params, ranges: Mapping[str, tuple[float, float]]) -> None:
        space = base._space
        self.base = base
        self.ranges = {}
        for name, (lo, hi) in ranges.items():
            lo, hi = space.check_value(name, lo), space.check_value(name, hi)
            if lo > hi:
                raise EnvError(
                    f"randomization range for '{name}' has low {lo:g} > high {hi:g}",
                    "write --randomize NAME=LOW:HIGH with LOW <= HIGH",
                )
            self.ranges[name] = (lo, hi)
        self._cols = np.array([space.index(n) for n in self.ranges], dtype=np.int64)
        self._lo = np.array([r[0] for r in self.ranges.values()])
        self._hi = np.array([r[1] for r in self.ranges.values()])
        self._vector = base.vector

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.broadcast_to(self._vector, (n, len(self._vector))).copy()
        if len(self._cols):
            out[:, self._cols] = rng.uniform(self._lo, self._hi, size=(n, len(self._cols)))
        return out


class EmpiricalSampler:
    """Rows drawn uniformly (with replacement) from a bank of samples over some parameters, the others fixed.

    The bank is typically posterior samples (BayesSim): training then randomizes over the posterior.
    """

    def __init__(self, base: Params, names: tuple[str, ...], samples: np.ndarray) -> None:
        space = base._space
        samples = np.asarray(samples, dtype=np.float64)
        if samples.ndim != 2 or samples.shape[1] != len(names) or len(samples) == 0:
            raise EnvError(f"parameter samples must be (n, {len(names)}) for {', '.join(names)}, got {samples.shape}")
        if len(set(names)) != len(names):
            raise EnvError(f"parameter samples name a parameter twice: {', '.join(names)}")
        self._cols = np.array([space.index(n) for n in names], dtype=np.int64)
        lo, hi = space.low[self._cols], space.high[self._cols]
        if not (np.isfinite(samples).all() and (samples >= lo).all() and (samples <= hi).all()):
            raise EnvError("parameter samples fall outside the parameters' bounds", "see 'simrl envs'")
        self.base, self.names, self.samples = base, tuple(names), samples
        self._vector = base.vector

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.broadcast_to(self._vector, (n, len(self._vector))).copy()
        out[:, self._cols] = self.samples[rng.integers(0, len(self.samples), size=n)]
        return out


def load_samples(path: str | Path) -> tuple[tuple[str, ...], np.ndarray]:
    """``names`` and ``samples`` from an npz written by simrl (BayesSim's posterior samples).

    Raises:
        EnvError: a missing, corrupt or malformed file.
    """
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as npz:
            names, samples = tuple(str(n) for n in npz["names"]), np.asarray(npz["samples"], dtype=np.float64)
    except FileNotFoundError:
        raise EnvError(f"parameter samples file '{path}' does not exist") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise EnvError(
            f"parameter samples file '{path}' is corrupt or not simrl's ({type(e).__name__})",
            "expected an npz with 'names' and 'samples'",
        ) from None
    return names, samples


def make_sampler(
    space: ParamSpace,
    params: Mapping[str, object] | None = None,
    randomize: Mapping[str, tuple[float, float]] | None = None,
    samples: tuple[tuple[str, ...], np.ndarray] | None = None,
) -> FixedSampler | UniformSampler | EmpiricalSampler:
    """Fixed values (``params``, defaults elsewhere), optionally uniform over ``randomize`` boxes, or drawn
    from a bank of ``samples`` (names, (n, d) array)."""
    base = space.make(params)
    if samples is not None:
        if randomize:
            raise EnvError("randomize uniformly or from samples, not both")
        overlap = set(samples[0]) & set(params or {})
        if overlap:
            raise EnvError(f"parameter '{sorted(overlap)[0]}' is both fixed and drawn from samples")
        return EmpiricalSampler(base, samples[0], samples[1])
    if randomize:
        overlap = set(randomize) & set(params or {})
        if overlap:
            raise EnvError(
                f"parameter '{sorted(overlap)[0]}' is both fixed and randomized",
                "use --env-param or --randomize for it, not both",
            )
        return UniformSampler(base, randomize)
    return FixedSampler(base)
