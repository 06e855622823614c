"""Deterministic evaluation on fixed seeds, and the random policy on the same seeds.

Every evaluation in simrl uses the same episode seeds (``EVAL_SEED`` onwards), so two policies, a
checkpoint and the random baseline, or two runs, are compared on the same starting states.

Besides returns, an evaluation keeps what an env says about each step in ``info``, under two
conventions: ``reward_<name>`` terms (the pymunk tasks, the obstacle course, Gymnasium's MuJoCo
tasks; they sum to the reward) are summed over each episode, so they sum to its return, and
``metric_<name>`` measures (the bipeds' posture) are averaged over the episode's steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simrl.data import rollout
from simrl.envs.vec import make_vec_env
from simrl.errors import EnvError
from simrl.types import Policy

EVAL_SEED = 1_000_000
MAX_EVAL_STEPS = 100_000
TERM, METRIC = "reward_", "metric_"  # info keys summed over an episode, and averaged over its steps


def is_info_key(name: str) -> bool:
    """Whether an info key is one evaluation keeps (a ``reward_*`` term or a ``metric_*`` measure)."""
    return name.startswith((TERM, METRIC)) and name not in (TERM, METRIC)


@dataclass(frozen=True)
class EvalResult:
    """Each episode's return and length, and ``info``: key -> (episodes,) per-episode value of every
    ``reward_*`` term (its sum over the episode) and ``metric_*`` measure (its mean over the steps)."""

    returns: np.ndarray
    lengths: np.ndarray
    info: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def terms(self) -> dict[str, np.ndarray]:
        """The ``reward_*`` terms, per episode."""
        return {k: v for k, v in self.info.items() if k.startswith(TERM)}

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """The ``metric_*`` measures, per episode."""
        return {k: v for k, v in self.info.items() if k.startswith(METRIC)}

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def save(self, path: str | Path) -> None:
        import io

        from simrl.utils.atomic import write_bytes

        buf = io.BytesIO()
        np.savez(buf, results=self.returns, ep_lengths=self.lengths, **self.info)
        write_bytes(path, buf.getvalue())

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> EvalResult:
        """The result :meth:`save` wrote, from its arrays (``results``; ``ep_lengths`` and the info keys
        when present: files written before they were kept have none)."""
        returns = np.asarray(arrays["results"], dtype=np.float64).reshape(-1)
        lengths = arrays.get("ep_lengths")
        lengths = np.zeros(returns.size, np.int64) if lengths is None else np.asarray(lengths).reshape(-1)
        info = {
            k: np.asarray(v, dtype=np.float64).reshape(-1)
            for k, v in arrays.items()
            if is_info_key(k) and np.size(v) == returns.size
        }
        return cls(returns, lengths, info)


class RandomPolicy:
    """Uniform random actions from any action space SB3 supports (Box, Discrete, MultiDiscrete,
    MultiBinary), drawn from its own generator."""

    def __init__(self, action_space, seed: int = EVAL_SEED) -> None:
        import gymnasium as gym

        self.space = action_space
        self.rng = np.random.default_rng(seed)
        if not isinstance(
            action_space, gym.spaces.Box | gym.spaces.Discrete | gym.spaces.MultiDiscrete | gym.spaces.MultiBinary
        ):
            raise EnvError(f"no random policy for {type(action_space).__name__} action spaces")

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        import gymnasium as gym

        n = len(observation) if not isinstance(observation, dict) else len(next(iter(observation.values())))
        space = self.space
        if isinstance(space, gym.spaces.Box):
            low, high = np.asarray(space.low, dtype=np.float64), np.asarray(space.high, dtype=np.float64)
            return self.rng.uniform(low, high, size=(n, *low.shape)).astype(space.dtype), None
        if isinstance(space, gym.spaces.Discrete):
            return (space.start + self.rng.integers(0, space.n, size=n)).astype(space.dtype), None
        if isinstance(space, gym.spaces.MultiDiscrete):
            nvec = np.asarray(space.nvec)
            start = np.asarray(getattr(space, "start", 0))
            return (start + self.rng.random((n, *nvec.shape)) * nvec).astype(space.dtype), None
        return self.rng.integers(0, 2, size=(n, *space.shape)).astype(space.dtype), None


def evaluate(
    policy: Policy,
    env_id: str,
    n_episodes: int,
    *,
    params: Mapping[str, float] | None = None,
    seed: int = EVAL_SEED,
    deterministic: bool = True,
    env_kwargs: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Run one episode in each of ``n_episodes`` parallel envs seeded from ``seed``.

    ``env_kwargs`` are further constructor arguments of the env (see ``simrl.envs.vec.check_env_kwargs``).
    Returns the undiscounted return and length of each episode, in env order, and the per-episode
    ``reward_*`` terms and ``metric_*`` measures the env reports in ``info``.
    """
    venv = make_vec_env(env_id, n_episodes, seed=seed, params=params, env_kwargs=env_kwargs)
    try:
        ran = rollout.episodes(
            policy, venv, deterministic=deterministic, max_steps=MAX_EVAL_STEPS, info_terms=(f"{TERM}*", f"{METRIC}*")
        )
    finally:
        venv.close()
    steps = np.maximum(ran.lengths, 1)
    keys = sorted((k for k in ran.terms if is_info_key(k)), key=lambda k: (k.startswith(METRIC), k))  # terms first
    info = {k: ran.terms[k] / steps if k.startswith(METRIC) else ran.terms[k] for k in keys}
    return EvalResult(returns=ran.returns, lengths=ran.lengths, info=info)


def random_baseline(
    env_id: str,
    n_episodes: int,
    *,
    params: Mapping[str, float] | None = None,
    seed: int = EVAL_SEED,
    env_kwargs: Mapping[str, Any] | None = None,
) -> EvalResult:
    """The random policy on the same episode seeds as :func:`evaluate`."""
    venv = make_vec_env(env_id, 1, env_kwargs=env_kwargs)
    space = venv.action_space
    venv.close()
    return evaluate(
        RandomPolicy(space, seed),
        env_id,
        n_episodes,
        params=params,
        seed=seed,
        deterministic=False,
        env_kwargs=env_kwargs,
    )
