"""Simulations for BayesSim: N parameter draws x K trajectories each, collected with one policy.

For an env with its own batched implementation (simrl/Pendulum-v0's :class:`BatchedPendulum`) all
N*K trajectories run in one batched env, one numpy call per step; other parametric envs run as an
SB3 vec env of Gymnasium envs (correct, slower). Both are stepped by :mod:`simrl.data.rollout`.

The data-collection policy is either a :class:`~simrl.types.Policy` (deterministic actions) or,
with ``policy=None``, an open-loop random action sequence drawn once from ``seed``: the same
(K, T) sequence drives every simulation and the observation, so trajectories differ only by
their parameters and initial states.

Seeds: with ``seed = s`` the actions come from ``np.random.default_rng(s)``; the initial states of
:func:`simulate` come from the stream ``SeedSequence(s).spawn(2)[0]`` and those of :func:`observe`
from ``[1]``, so a simulation and the observation never share initial states. Pass ``init_seed``
to draw them from another stream (later BayesSim rounds do).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from simrl.data import rollout
from simrl.envs.vec import batched_class
from simrl.errors import ConfigError, EnvError
from simrl.types import Policy

_SIMULATE_STREAM, _OBSERVE_STREAM = 0, 1
CHUNK_TRAJECTORIES = 50_000  # per simulate() call of a simulator(): ~120 MB of observations at T = 200


@dataclass(frozen=True)
class Trajectories:
    """What N parameter draws x K trajectories of T steps produced.

    Attributes:
        obs: (N, K, T+1, obs_dim) float32; ``obs[n, k, 0]`` is the initial observation.
        actions: (N, K, T, act_dim) float32; ``actions[n, k, t]`` was applied to ``obs[n, k, t]``
            (after clipping to the action box).
        init_state: (N, K, state_dim) float64 initial simulator states where the env exposes them
            (the pendulum: theta, thetadot), else None.
    """

    obs: np.ndarray
    actions: np.ndarray
    init_state: np.ndarray | None = None

    @property
    def num_draws(self) -> int:
        return self.obs.shape[0]

    @property
    def trajectories(self) -> int:
        return self.obs.shape[1]

    @property
    def steps(self) -> int:
        return self.actions.shape[2]


def simulate(
    env_id: str,
    thetas: np.ndarray,
    names: tuple[str, ...] | list[str],
    *,
    trajectories: int = 1,
    steps: int = 200,
    policy: Policy | None = None,
    seed: int = 0,
    fixed_params: Mapping[str, float] | None = None,
    init_seed: int | None = None,
) -> Trajectories:
    """Simulate ``trajectories`` episodes of ``steps`` steps for each row of ``thetas``.

    Args:
        env_id: a parametric env (simrl/Pendulum-v0 is batched).
        thetas: (N, d) parameter values, columns in the order of ``names``.
        names: the parameters the columns set; the others take ``fixed_params`` or their defaults.
        trajectories: K, episodes per parameter draw (each from its own initial state).
        steps: T, steps per episode.
        policy: the data-collection policy; None: the open-loop random actions of ``seed``.
        seed: seeds the random actions and, unless ``init_seed`` is given, the initial states.
        fixed_params: values for parameters not in ``names``.
        init_seed: seeds the initial states instead of ``seed``'s simulation stream.

    Returns:
        :class:`Trajectories` with N draws of K trajectories; draw ``n`` used ``thetas[n]``.

    Raises:
        EnvError: an unknown env or parameter, a value outside its bounds, a parameter both in
            ``names`` and ``fixed_params``.
        ConfigError: a wrong shape of ``thetas``, ``trajectories`` or ``steps`` below 1.
    """
    params = _param_matrix(env_id, thetas, names, fixed_params)
    rng = _init_rng(seed, _SIMULATE_STREAM) if init_seed is None else np.random.default_rng(init_seed)
    return _collect(env_id, params, trajectories, steps, policy, seed, rng)


def observe(
    env_id: str,
    true_params: Mapping[str, float],
    *,
    trajectories: int = 1,
    steps: int = 200,
    policy: Policy | None = None,
    seed: int = 0,
    init_seed: int | None = None,
) -> Trajectories:
    """Record the "real" system: the collection of :func:`simulate` on ``true_params``, N = 1.

    With the same ``seed`` as the simulations it applies the same random actions, from initial
    states of its own stream. Parameters missing from ``true_params`` take their defaults.

    Raises:
        EnvError: an unknown env or parameter, a value outside its bounds.
    """
    names = tuple(true_params)
    thetas = np.array([[float(true_params[n]) for n in names]]) if names else np.zeros((1, 0))
    params = _param_matrix(env_id, thetas, names, None)
    rng = _init_rng(seed, _OBSERVE_STREAM) if init_seed is None else np.random.default_rng(init_seed)
    return _collect(env_id, params, trajectories, steps, policy, seed, rng)


def simulator(
    env_id: str,
    names: tuple[str, ...] | list[str],
    summary: Callable[[Trajectories], np.ndarray],
    *,
    trajectories: int = 1,
    steps: int = 200,
    policy: Policy | None = None,
    seed: int = 0,
    fixed_params: Mapping[str, float] | None = None,
) -> Callable[[np.ndarray, int], np.ndarray]:
    """``(thetas, round) -> summaries``: :func:`simulate` then ``summary``, for fits and checks.

    Every call applies the same collection actions (those of ``seed``); call ``r`` draws the
    initial states of its ``i``-th chunk of draws from ``SeedSequence([seed, r, i])``, so rounds do
    not repeat them. Draws are simulated in chunks of about ``CHUNK_TRAJECTORIES`` trajectories to
    bound memory.
    """

    chunk = max(1, CHUNK_TRAJECTORIES // max(1, trajectories))

    def run(thetas: np.ndarray, round_: int) -> np.ndarray:
        thetas = np.asarray(thetas, dtype=np.float64)
        out = []
        for i, lo in enumerate(range(0, len(thetas), chunk)):  # bounded memory: summaries are small
            init = int(np.random.SeedSequence([seed, round_, i]).generate_state(1)[0])
            traj = simulate(
                env_id,
                thetas[lo : lo + chunk],
                names,
                trajectories=trajectories,
                steps=steps,
                policy=policy,
                seed=seed,
                fixed_params=fixed_params,
                init_seed=init,
            )
            out.append(summary(traj))
        return np.concatenate(out) if out else np.zeros((0, 0))

    return run


def random_actions(action_space: gym.spaces.Box, trajectories: int, steps: int, seed: int) -> np.ndarray:
    """The open-loop collection actions of ``seed``: (K, T, act_dim) float32, uniform in the box."""
    rng = np.random.default_rng(seed)
    low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
    return rng.uniform(low, high, size=(trajectories, steps, *action_space.shape)).astype(np.float32)


# ------------------------------------------------------------------------------------------ internals


def _init_rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[stream])


def _param_matrix(
    env_id: str, thetas: np.ndarray, names: tuple[str, ...] | list[str], fixed: Mapping[str, float] | None
) -> np.ndarray:
    """(N, P) full parameter vectors in the env's ``ParamSpace`` order, every value checked."""
    from simrl.envs.vec import param_space

    space = param_space(env_id)
    names = tuple(names)
    thetas = np.asarray(thetas, dtype=np.float64)
    if thetas.ndim != 2 or thetas.shape[1] != len(names) or len(thetas) < 1:
        raise ConfigError(f"thetas must have shape (N >= 1, {len(names)}), got {thetas.shape}")
    if names and not len(space):
        raise EnvError(f"{env_id} has no simulator parameters", "see 'simrl envs' for parametric envs")
    both = set(names) & set(fixed or {})
    if both:
        raise EnvError(f"parameter '{sorted(both)[0]}' is both simulated and fixed")
    base = space.make(fixed).vector
    cols = [space.index(n) for n in names]  # raises on an unknown name
    out = np.tile(base, (len(thetas), 1))
    out[:, cols] = thetas
    lo, hi = space.low, space.high
    bad = ~((lo <= out) & (out <= hi))  # also catches NaN
    if bad.any():
        row, col = np.argwhere(bad)[0]
        space.check_value(space.names[col], out[row, col])  # raises, naming it
    return out


def _collect(
    env_id: str,
    params: np.ndarray,
    k: int,
    steps: int,
    policy: Policy | None,
    seed: int,
    init_rng: np.random.Generator,
) -> Trajectories:
    if k < 1 or steps < 1:
        raise ConfigError(f"trajectories and steps must be at least 1, got {k} and {steps}")
    batched = batched_class(env_id)
    if batched is not None:
        return _collect_batched(batched, params, k, steps, policy, seed, init_rng)
    return _collect_generic(env_id, params, k, steps, policy, seed, init_rng)


class _Collection:
    """The collection policy as a :class:`Policy`: the given one clipped to the action box (float32),
    or the open-loop sequence ``actions[:, t]`` at step ``t``."""

    def __init__(self, policy: Policy | None, open_loop: np.ndarray | None, space: gym.spaces.Box) -> None:
        self.policy, self.open_loop, self.space, self.t = policy, open_loop, space, 0

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        t, self.t = self.t, self.t + 1
        if self.policy is None:
            return self.open_loop[:, t], None  # type: ignore[index]
        action, _ = self.policy.predict(observation, deterministic=True)
        action = np.asarray(action, dtype=np.float32).reshape(len(observation), *self.space.shape)
        return np.clip(action, self.space.low, self.space.high), None


def _open_loop(space: gym.spaces.Box, n: int, k: int, steps: int, seed: int) -> np.ndarray:
    """(N*K, T, act_dim): the same (K, T) random sequence for every draw."""
    seq = random_actions(space, k, steps, seed)
    return np.broadcast_to(seq[None], (n, *seq.shape)).reshape(n * k, steps, *space.shape)


def _trajectories(
    ran: rollout.Episodes, n: int, k: int, init_state: np.ndarray | None = None, steps: int | None = None
) -> Trajectories:
    """(T, N*K, ...) rollout arrays as (N, K, T, ...) trajectories.

    When every episode ended before ``steps`` (the collector then stops), the trajectories are padded
    to ``steps``: the last observation repeated, zero actions.
    """
    obs, actions = ran.obs.astype(np.float32), ran.actions.astype(np.float32)  # type: ignore[union-attr]
    if steps is not None and len(actions) < steps:
        missing = steps - len(actions)
        obs = np.concatenate([obs, np.repeat(obs[-1:], missing, axis=0)])
        actions = np.concatenate([actions, np.zeros((missing, *actions.shape[1:]), np.float32)])
    obs, actions = np.moveaxis(obs, 0, 1), np.moveaxis(actions, 0, 1)
    return Trajectories(
        obs=np.ascontiguousarray(obs).reshape(n, k, *obs.shape[1:]),
        actions=np.ascontiguousarray(actions).reshape(n, k, *actions.shape[1:]),
        init_state=None if init_state is None else init_state.reshape(n, k, -1),
    )


def _collect_batched(
    batched: type,
    params: np.ndarray,
    k: int,
    steps: int,
    policy: Policy | None,
    seed: int,
    init_rng: np.random.Generator,
) -> Trajectories:
    n = len(params)
    m = n * k
    venv = batched(m, max_episode_steps=steps + 1)  # no autoreset within the T steps
    venv.seed(0)
    venv.reset()
    venv.set_params(np.repeat(params, k, axis=0))  # row n*K + j: draw n, trajectory j
    state = venv.sample_states(m, init_rng)
    space = venv.action_space
    open_loop = _open_loop(space, n, k, steps, seed) if policy is None else None
    first = venv.set_state(*state.T)
    ran = rollout.episodes(_Collection(policy, open_loop, space), venv, obs=first, max_steps=steps, keep=True)
    venv.close()
    return _trajectories(ran, n, k, state)


def _collect_generic(
    env_id: str,
    params: np.ndarray,
    k: int,
    steps: int,
    policy: Policy | None,
    seed: int,
    init_rng: np.random.Generator,
) -> Trajectories:
    """One Gymnasium env per trajectory in an SB3 vec env; episodes that end early repeat their last frame."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simrl.envs.vec import make_env, param_space

    space = param_space(env_id)
    n = len(params)
    rows = [dict(zip(space.names, row.tolist(), strict=True)) if len(space) else {} for row in np.repeat(params, k, 0)]
    venv = DummyVecEnv([lambda kw=kw: make_env(env_id, kw) for kw in rows])
    act_space = venv.action_space
    if not isinstance(act_space, gym.spaces.Box):
        venv.close()
        raise EnvError(f"BayesSim simulates continuous actions; {env_id} has {type(act_space).__name__} actions")
    open_loop = _open_loop(act_space, n, k, steps, seed) if policy is None else None
    seeds = init_rng.integers(0, 2**31 - 1, size=len(rows))
    # Each env starts from its own seed; the vec env then steps them (and resets none of them).
    first = np.stack(
        [np.asarray(e.reset(seed=int(s))[0], dtype=np.float32) for e, s in zip(venv.envs, seeds, strict=True)]
    )
    ran = rollout.episodes(_Collection(policy, open_loop, act_space), venv, obs=first, max_steps=steps, keep=True)
    venv.close()
    return _trajectories(ran, n, k, steps=steps)
