"""Simulations for BayesSim: N parameter draws x K trajectories each, collected with one policy.

For simrl/Pendulum-v0 all N*K trajectories run in one :class:`BatchedPendulum`, one numpy call per
step; other parametric envs fall back to a plain loop over Gymnasium envs (correct, slow).

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

from simrl.errors import ConfigError, EnvError
from simrl.types import Policy

BATCHED = {"simrl/Pendulum-v0"}
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
    if env_id in BATCHED:
        return _collect_pendulum(params, k, steps, policy, seed, init_rng)
    return _collect_generic(env_id, params, k, steps, policy, seed, init_rng)


def _act(
    policy: Policy | None, obs: np.ndarray, t: int, open_loop: np.ndarray | None, space: gym.spaces.Box
) -> np.ndarray:
    """Actions for all N*K envs at step ``t``, clipped to the action box, float32."""
    if policy is None:
        return open_loop[:, t]  # type: ignore[index]
    action, _ = policy.predict(obs, deterministic=True)
    action = np.asarray(action, dtype=np.float32).reshape(len(obs), *space.shape)
    return np.clip(action, space.low, space.high)


def _collect_pendulum(
    params: np.ndarray, k: int, steps: int, policy: Policy | None, seed: int, init_rng: np.random.Generator
) -> Trajectories:
    from simrl.envs.batched_pendulum import BatchedPendulum
    from simrl.envs.pendulum import RESET_HIGH

    n = len(params)
    m = n * k
    venv = BatchedPendulum(m, max_episode_steps=steps + 1)  # no autoreset within the T steps
    venv.seed(0)
    venv.reset()
    venv.set_params(np.repeat(params, k, axis=0))  # row n*K + j: draw n, trajectory j
    state = init_rng.uniform(-RESET_HIGH, RESET_HIGH, size=(m, 2))
    space = venv.action_space
    open_loop = None
    if policy is None:
        seq = random_actions(space, k, steps, seed)  # (K, T, 1), the same for every draw
        open_loop = np.broadcast_to(seq[None], (n, k, steps, 1)).reshape(m, steps, 1)

    obs = np.empty((steps + 1, m, 3), dtype=np.float32)
    actions = np.empty((steps, m, 1), dtype=np.float32)
    obs[0] = venv.set_state(state[:, 0], state[:, 1])
    for t in range(steps):
        a = _act(policy, obs[t], t, open_loop, space)
        actions[t] = a
        venv.step_async(a)
        obs[t + 1] = venv.step_wait()[0]
    return Trajectories(
        obs=np.ascontiguousarray(obs.transpose(1, 0, 2)).reshape(n, k, steps + 1, 3),
        actions=np.ascontiguousarray(actions.transpose(1, 0, 2)).reshape(n, k, steps, 1),
        init_state=state.reshape(n, k, 2),
    )


def _collect_generic(
    env_id: str,
    params: np.ndarray,
    k: int,
    steps: int,
    policy: Policy | None,
    seed: int,
    init_rng: np.random.Generator,
) -> Trajectories:
    """One Gymnasium env per trajectory, stepped in lockstep; episodes that end early repeat their last frame."""
    from simrl.envs.vec import param_space

    space = param_space(env_id)
    n = len(params)
    envs = []
    for row in np.repeat(params, k, axis=0):
        kwargs = dict(zip(space.names, row.tolist(), strict=True)) if len(space) else {}
        envs.append(gym.make(env_id, **kwargs))
    act_space = envs[0].action_space
    if not isinstance(act_space, gym.spaces.Box):
        raise EnvError(f"BayesSim simulates continuous actions; {env_id} has {type(act_space).__name__} actions")
    open_loop = None
    if policy is None:
        seq = random_actions(act_space, k, steps, seed)
        open_loop = np.broadcast_to(seq[None], (n, *seq.shape)).reshape(n * k, steps, *act_space.shape)
    seeds = init_rng.integers(0, 2**31 - 1, size=len(envs))
    first = np.stack([np.asarray(e.reset(seed=int(s))[0], dtype=np.float32) for e, s in zip(envs, seeds, strict=True)])
    obs = np.empty((steps + 1, *first.shape), dtype=np.float32)
    actions = np.empty((steps, len(envs), *act_space.shape), dtype=np.float32)
    obs[0] = first
    alive = np.ones(len(envs), dtype=bool)
    for t in range(steps):
        actions[t] = _act(policy, obs[t], t, open_loop, act_space)
        obs[t + 1] = obs[t]
        for i in np.flatnonzero(alive):
            o, _, terminated, truncated, _ = envs[i].step(actions[t, i])
            obs[t + 1, i] = o
            alive[i] = not (terminated or truncated)
    for e in envs:
        e.close()
    shape = obs.shape[2:]
    return Trajectories(
        obs=np.ascontiguousarray(np.moveaxis(obs, 0, 1)).reshape(n, k, steps + 1, *shape),
        actions=np.ascontiguousarray(np.moveaxis(actions, 0, 1)).reshape(n, k, steps, *act_space.shape),
    )
