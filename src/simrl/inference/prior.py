"""The prior of BayesSim: a uniform box over some named parameters of an env.

The box must lie inside the env's :class:`~simrl.envs.params.ParamSpace`, so every draw (and every
posterior sample, which stays inside the box) is a parameter set the simulator accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from simrl.errors import ConfigError, EnvError

if TYPE_CHECKING:
    from sbi.utils import BoxUniform

# The BayesSim pendulum demo infers mass and length, each uniform in [0.1, 2.0].
DEFAULT_BOUNDS: dict[str, dict[str, tuple[float, float]]] = {
    "simrl/Pendulum-v0": {"mass": (0.1, 2.0), "length": (0.1, 2.0)},
}


@dataclass(frozen=True, eq=False)
class BoxPrior:
    """Uniform over ``[low, high]`` for the parameters ``names`` of ``env_id`` (the others stay fixed).

    Build it with :meth:`for_env`, which checks the names and bounds against the env; the
    constructor only checks shapes and ``low < high``.
    """

    names: tuple[str, ...]
    low: np.ndarray
    high: np.ndarray
    env_id: str

    def __post_init__(self) -> None:
        low = np.array(self.low, dtype=np.float64).reshape(-1)
        high = np.array(self.high, dtype=np.float64).reshape(-1)
        names = tuple(str(n) for n in self.names)
        if not names or low.shape != (len(names),) or high.shape != (len(names),):
            raise ConfigError(
                f"a prior needs one (low, high) pair per parameter, got {len(names)} names, "
                f"{low.size} lows and {high.size} highs"
            )
        if len(set(names)) != len(names):
            raise ConfigError(f"the prior names a parameter twice: {', '.join(names)}")
        bad = ~(np.isfinite(low) & np.isfinite(high) & (low < high))
        if bad.any():
            i = int(np.argmax(bad))
            raise ConfigError(
                f"prior range for '{names[i]}' is [{low[i]:g}, {high[i]:g}]", "write finite bounds with low < high"
            )
        low.flags.writeable = high.flags.writeable = False
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    @classmethod
    def for_env(
        cls,
        env_id: str,
        names: tuple[str, ...] | list[str] | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
    ) -> BoxPrior:
        """The prior over ``names`` of ``env_id``.

        Args:
            env_id: a registered env with simulator parameters.
            names: parameters to infer; None: those of ``bounds``, else the env's default set
                (mass and length for simrl/Pendulum-v0), else all of its parameters.
            bounds: name -> (low, high); a name without one gets the env's default range
                ([0.1, 2.0] for the pendulum's mass and length), else its full ``ParamSpace`` range.

        Raises:
            EnvError: an unknown env or parameter, an env without parameters, a bound outside the
                parameter's ``ParamSpace`` range.
            ConfigError: low >= high, a bound for a parameter not in ``names``.
        """
        from simrl.envs.vec import param_space

        space = param_space(env_id)
        if not len(space):
            raise EnvError(f"{env_id} has no simulator parameters to infer", "see 'simrl envs' for parametric envs")
        defaults = DEFAULT_BOUNDS.get(env_id, {})
        bounds = dict(bounds or {})
        if names is None:
            names = tuple(bounds) or tuple(defaults) or space.names
        names = tuple(names)
        extra = [n for n in bounds if n not in names]
        if extra:
            raise ConfigError(f"a prior bound is given for '{extra[0]}', which is not inferred ({', '.join(names)})")
        low, high = [], []
        for name in names:
            p = space.get(name)  # raises the unknown-parameter error
            lo, hi = bounds.get(name, defaults.get(name, (p.low, p.high)))
            lo, hi = space.check_value(name, lo), space.check_value(name, hi)
            low.append(lo)
            high.append(hi)
        return cls(names, np.array(low), np.array(high), env_id)

    # -- the distribution ---------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return len(self.names)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform draws, shape (n, d), float64."""
        return rng.uniform(self.low, self.high, size=(int(n), self.dim))

    def contains(self, theta: np.ndarray) -> np.ndarray:
        """Whether each row of ``theta`` (shape (n, d) or (d,)) lies in the box (bounds included)."""
        theta = np.asarray(theta, dtype=np.float64)
        return np.all((self.low <= theta) & (theta <= self.high), axis=-1)

    def log_prob(self, theta: np.ndarray) -> np.ndarray:
        """Log density of each row: ``-log(volume)`` inside the box, ``-inf`` outside."""
        inside = self.contains(theta)
        return np.where(inside, -float(np.sum(np.log(self.high - self.low))), -np.inf)

    def to_unit(self, theta: np.ndarray) -> np.ndarray:
        """``theta`` -> ``u = (theta - centre) / half-width``: the box becomes [-1, 1]^d."""
        return (np.asarray(theta, dtype=np.float64) - self._centre) / self._half

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`to_unit`."""
        return np.asarray(u, dtype=np.float64) * self._half + self._centre

    @property
    def unit_log_det(self) -> float:
        """``log |du / dtheta|``: add it to a density of ``u`` for the density of ``theta``."""
        return -float(np.sum(np.log(self._half)))

    @property
    def _centre(self) -> np.ndarray:
        return (self.high + self.low) / 2

    @property
    def _half(self) -> np.ndarray:
        return (self.high - self.low) / 2

    def to_sbi(self) -> BoxUniform:
        """sbi's ``BoxUniform`` over the same box (float32 tensors on the CPU)."""
        import torch
        from sbi.utils import BoxUniform

        return BoxUniform(torch.tensor(self.low, dtype=torch.float32), torch.tensor(self.high, dtype=torch.float32))

    # -- named values -------------------------------------------------------------------------------

    def vector(self, values: Mapping[str, float]) -> np.ndarray:
        """``values`` (exactly the prior's names) as a vector in the prior's order, checked to lie in the box.

        Raises:
            EnvError: a missing or unknown name, a value outside the box.
        """
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise EnvError(f"'{unknown[0]}' is not an inferred parameter", f"inferred: {', '.join(self.names)}")
        missing = [n for n in self.names if n not in values]
        if missing:
            raise EnvError(f"no value for the inferred parameter '{missing[0]}'")
        out = np.empty(self.dim)
        for i, name in enumerate(self.names):
            try:
                out[i] = float(values[name])
            except (TypeError, ValueError):
                raise EnvError(f"parameter '{name}' must be a number, got '{values[name]}'") from None
            if not self.low[i] <= out[i] <= self.high[i]:
                raise EnvError(
                    f"parameter '{name}'={values[name]} is outside the prior box [{self.low[i]:g}, {self.high[i]:g}]",
                    "choose a value inside the prior or widen the prior",
                )
        return out

    def to_json(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "names": list(self.names), "low": self.low.tolist(), "high": self.high.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BoxPrior:
        return cls(tuple(data["names"]), np.asarray(data["low"]), np.asarray(data["high"]), str(data["env_id"]))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BoxPrior)
            and (self.env_id, self.names) == (other.env_id, other.names)
            and np.array_equal(self.low, other.low)
            and np.array_equal(self.high, other.high)
        )

    def __hash__(self) -> int:
        return hash((self.env_id, self.names, self.low.tobytes(), self.high.tobytes()))

    def __repr__(self) -> str:
        box = ", ".join(f"{n}=[{lo:g}, {hi:g}]" for n, lo, hi in zip(self.names, self.low, self.high, strict=True))
        return f"BoxPrior({self.env_id}: {box})"
