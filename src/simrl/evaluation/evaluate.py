"""Deterministic evaluation on fixed seeds, and the random policy on the same seeds.

Every evaluation in simrl uses the same episode seeds (``EVAL_SEED`` onwards), so two policies, a
checkpoint and the random baseline, or two runs, are compared on the same starting states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simrl.envs.vec import make_vec_env
from simrl.types import Policy

EVAL_SEED = 1_000_000
MAX_EVAL_STEPS = 100_000


@dataclass(frozen=True)
class EvalResult:
    returns: np.ndarray
    lengths: np.ndarray

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
        np.savez(buf, results=self.returns, ep_lengths=self.lengths)
        write_bytes(path, buf.getvalue())


class RandomPolicy:
    """Uniform random actions from the action space, from its own generator."""

    def __init__(self, action_space, seed: int = EVAL_SEED) -> None:
        self.low = np.asarray(action_space.low, dtype=np.float64)
        self.high = np.asarray(action_space.high, dtype=np.float64)
        self.dtype = action_space.dtype
        self.rng = np.random.default_rng(seed)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        n = len(observation)
        actions = self.rng.uniform(self.low, self.high, size=(n, *self.low.shape)).astype(self.dtype)
        return actions, None


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
    Returns the undiscounted return and length of each episode, in env order.
    """
    venv = make_vec_env(env_id, n_episodes, seed=seed, params=params, env_kwargs=env_kwargs)
    try:
        obs = venv.reset()
        returns = np.zeros(n_episodes)
        lengths = np.zeros(n_episodes, dtype=np.int64)
        running = np.ones(n_episodes, dtype=bool)
        for _ in range(MAX_EVAL_STEPS):
            actions, _ = policy.predict(obs, deterministic=deterministic)
            obs, rewards, dones, _ = venv.step(actions)
            returns += np.where(running, rewards, 0.0)
            lengths += running
            running &= ~dones
            if not running.any():
                break
    finally:
        venv.close()
    return EvalResult(returns=returns, lengths=lengths)


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
