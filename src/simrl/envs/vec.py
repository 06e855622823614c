"""``make_vec_env``: the batched pendulum for simrl/Pendulum-v0, SB3's vec envs for anything else."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np

from simrl.envs.params import FixedSampler, ParamSpace, make_sampler
from simrl.errors import EnvError

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

BATCHED = {"simrl/Pendulum-v0"}


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``env_id``, or an EnvError listing what exists."""
    import simrl.envs  # noqa: F401  the simrl ids

    try:
        return gym.spec(env_id)
    except gym.error.Error:
        # Gymnasium's own message is multi-line; ours names the fix.
        simrl_ids = sorted(k for k in gym.registry if k.startswith("simrl/"))
        raise EnvError(
            f"unknown environment '{env_id}'", f"simrl ids: {', '.join(simrl_ids)}; see 'simrl envs'"
        ) from None


def env_class(env_id: str) -> type | None:
    spec = env_spec(env_id)
    if callable(spec.entry_point):
        return spec.entry_point if isinstance(spec.entry_point, type) else None
    try:
        from gymnasium.envs.registration import load_env_creator

        return load_env_creator(spec.entry_point)
    except Exception:  # an env whose module needs an extra that is not installed
        return None


def param_space(env_id: str) -> ParamSpace:
    """The simulator parameters of ``env_id`` (empty for envs without any)."""
    cls = env_class(env_id)
    space = getattr(cls, "PARAM_SPACE", None)
    return space if isinstance(space, ParamSpace) else ParamSpace((), env_id)


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    params: Mapping[str, float] | None = None,
    randomize: Mapping[str, tuple[float, float]] | None = None,
    subprocess: bool = False,
    render_mode: str | None = None,
    samples: tuple[tuple[str, ...], np.ndarray] | None = None,
) -> VecEnv:
    """A vectorized ``env_id`` with ``n_envs`` copies.

    Args:
        env_id: a registered Gymnasium id (``simrl envs`` lists simrl's).
        n_envs: number of parallel environments.
        seed: seeds the next reset (env ``i`` gets ``seed + i`` for SB3's vec envs).
        params: fixed simulator parameters by name; the others keep their defaults.
        randomize: name -> (low, high); each episode draws these uniformly.
        subprocess: use SubprocVecEnv instead of DummyVecEnv (ignored for batched envs).
        render_mode: passed to the env (``rgb_array`` for videos).
        samples: (names, (n, d) array): each episode draws one row (e.g. BayesSim posterior samples).

    Returns:
        ``BatchedPendulum`` for simrl/Pendulum-v0 (all copies stepped in one numpy call), an SB3
        ``DummyVecEnv``/``SubprocVecEnv`` otherwise.

    Raises:
        EnvError: unknown id, unknown parameter, value out of bounds, low > high.
    """
    if n_envs < 1:
        raise EnvError(f"n_envs must be at least 1, got {n_envs}")
    spec = env_spec(env_id)
    space = param_space(env_id)
    if (params or randomize or samples) and not len(space):
        raise EnvError(f"{env_id} has no simulator parameters", "see 'simrl envs' for parametric envs")
    sampler = make_sampler(space, params, randomize, samples)

    if env_id in BATCHED:
        from simrl.envs.batched_pendulum import BatchedPendulum

        venv = BatchedPendulum(
            n_envs, sampler=sampler, render_mode=render_mode, max_episode_steps=spec.max_episode_steps or 200
        )
    else:
        venv = _sb3_vec_env(env_id, n_envs, space, params, sampler, subprocess, render_mode)
    if seed is not None:
        venv.seed(seed)
    return venv


def _sb3_vec_env(env_id, n_envs, space, params, sampler, subprocess, render_mode) -> VecEnv:
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from simrl.envs.wrappers import DomainRandomization

    def factory() -> Callable[[], gym.Env]:
        def make() -> gym.Env:
            kwargs = {} if render_mode is None else {"render_mode": render_mode}
            if len(space):
                kwargs.update(dict(space.make(params)))
            env = gym.make(env_id, **kwargs)
            if not isinstance(sampler, FixedSampler):
                env = DomainRandomization(env, sampler)
            return env

        return make

    cls = SubprocVecEnv if subprocess and n_envs > 1 else DummyVecEnv
    return cls([factory() for _ in range(n_envs)])
