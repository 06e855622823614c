"""The one batched rollout collector: steps any :class:`~simrl.types.Policy` in any vectorized env.

Evaluation, robustness grids, videos and BayesSim's simulations all step envs through here, so
episode boundaries (``episode_start``), terminal observations and the terminated/truncated split
are handled once. Two ways to collect:

- :func:`episodes`: the first episode of every env, all envs stepped together until each has
  ended (the evaluation protocol: env ``i`` seeded ``seed + i``, one episode each).
- :func:`transitions`: a fixed number of steps, across episode ends (data for models and buffers).

Envs are SB3 ``VecEnv`` objects (``simrl.envs.vec.make_vec_env``): they reset an env as soon as its
episode ends and put the last observation of the ended episode in ``info["terminal_observation"]``;
``info["TimeLimit.truncated"]`` tells a time limit from a termination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simrl.types import Policy

MAX_EPISODE_STEPS = 100_000  # a guard for envs without a time limit


@dataclass(frozen=True)
class Episodes:
    """The first episode of each of ``n`` envs.

    Attributes:
        returns: (n,) undiscounted returns.
        lengths: (n,) steps per episode.
        terms: info key -> (n,) sum of ``info[key]`` over each episode (the keys asked for, and every
            key a ``"prefix_*"`` pattern matches, e.g. the env's ``reward_*`` terms for ``"reward_*"``).
        obs: (T + 1, n, *obs_shape) observations when kept: ``obs[t + 1, i]`` follows ``actions[t, i]``;
            after env ``i``'s episode ended its rows repeat the episode's last observation.
        actions: (T, n, *act_shape) when kept.
        rewards: (T, n) when kept, 0 after an episode ended.
        terminated, truncated: (T, n) bool when kept, True only on an episode's last step.
    """

    returns: np.ndarray
    lengths: np.ndarray
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    obs: np.ndarray | None = None
    actions: np.ndarray | None = None
    rewards: np.ndarray | None = None
    terminated: np.ndarray | None = None
    truncated: np.ndarray | None = None


@dataclass(frozen=True)
class Transitions:
    """``steps * n`` transitions, time-major (row ``t * n + i`` is env ``i`` at step ``t``).

    ``next_obs`` is the observation the action led to, the terminal one where an episode ended (not
    the first of the next episode). ``episode_returns``/``episode_lengths`` are the episodes that
    ended inside the window, in the order they ended.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)


class Stepper:
    """Steps a policy in a vec env, tracking episode starts, recurrent state and the terminal split."""

    def __init__(self, policy: Policy, venv: Any, obs: Any, deterministic: bool) -> None:
        self.policy = policy
        self.venv = venv
        self.obs = obs
        self.deterministic = deterministic
        self.state: object = None
        self.episode_start = np.ones(venv.num_envs, dtype=bool)

    def step(self) -> tuple[np.ndarray, Any, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        """One step of every env: (actions, next_obs with terminal ones, rewards, terminated, truncated, infos).

        ``self.obs`` becomes what the env returned (the first observation of a new episode where one ended).
        """
        actions, self.state = self.policy.predict(
            self.obs, state=self.state, episode_start=self.episode_start, deterministic=self.deterministic
        )
        obs, rewards, dones, infos = self.venv.step(actions)
        dones = np.asarray(dones, dtype=bool)
        truncated = dones & np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos])
        next_obs = obs
        if dones.any() and isinstance(obs, np.ndarray):
            next_obs = obs.copy()
            for i in np.flatnonzero(dones):
                last = infos[i].get("terminal_observation")
                if last is not None:
                    next_obs[i] = last
        self.obs = obs
        self.episode_start = dones
        return (
            np.asarray(actions),
            next_obs,
            np.asarray(rewards, dtype=np.float64),
            dones & ~truncated,
            truncated,
            infos,
        )


def _term_keys(info_terms: str | Sequence[str], infos: list[dict]) -> list[str]:
    """The info keys asked for: exact keys, and every key of ``infos`` that a ``"prefix_*"`` pattern matches."""
    asked = [info_terms] if isinstance(info_terms, str) else list(info_terms)
    exact = [k for k in asked if not k.endswith("*")]
    prefixes = tuple(k.rstrip("*") for k in asked if k.endswith("*"))
    matched = {k for info in infos for k in info if prefixes and k.startswith(prefixes)} - set(exact)
    return exact + sorted(matched)


def episodes(
    policy: Policy,
    venv: Any,
    *,
    deterministic: bool = True,
    obs: Any = None,
    max_steps: int = MAX_EPISODE_STEPS,
    keep: bool = False,
    info_terms: str | Sequence[str] = (),
) -> Episodes:
    """Run the first episode of every env of ``venv`` (seeded by the caller), all stepped together.

    Args:
        policy: acts on the whole batch of observations.
        venv: an SB3 ``VecEnv``; reset here unless ``obs`` is given (the caller has placed the envs).
        deterministic: passed to ``predict``.
        obs: the first observations, when the caller has already reset the envs.
        max_steps: stop after this many steps even if some episode has not ended (its length is then
            ``max_steps``).
        keep: keep observations, actions, rewards and the terminated/truncated flags, step by step.
        info_terms: info keys whose values are summed per episode, and ``"prefix_*"`` patterns
            (one or a sequence of them).
    """
    n = venv.num_envs
    stepper = Stepper(policy, venv, venv.reset() if obs is None else obs, deterministic)
    returns = np.zeros(n)
    lengths = np.zeros(n, dtype=np.int64)
    running = np.ones(n, dtype=bool)
    terms: dict[str, np.ndarray] = {}
    kept: dict[str, list[np.ndarray]] = {"obs": [np.array(stepper.obs)]} if keep else {}
    for _ in range(max_steps):
        actions, next_obs, rewards, terminated, truncated, infos = stepper.step()
        rewards = np.where(running, rewards, 0.0)
        returns += rewards
        lengths += running
        for key in _term_keys(info_terms, infos):
            values = np.array([float(info.get(key, 0.0)) for info in infos])
            terms[key] = terms.get(key, np.zeros(n)) + np.where(running, values, 0.0)
        if keep:
            last = kept["obs"][-1]
            kept["obs"].append(np.where(_rows(running, last.ndim), next_obs, last))
            kept.setdefault("actions", []).append(actions)
            kept.setdefault("rewards", []).append(rewards)
            kept.setdefault("terminated", []).append(terminated & running)
            kept.setdefault("truncated", []).append(truncated & running)
        running &= ~(terminated | truncated)
        if not running.any():
            break
    arrays = {k: np.stack(v) for k, v in kept.items()}
    return Episodes(returns=returns, lengths=lengths, terms=terms, **arrays)


def _rows(mask: np.ndarray, ndim: int) -> np.ndarray:
    return mask.reshape(-1, *([1] * (ndim - 1)))


def transitions(
    policy: Policy,
    venv: Any,
    steps: int,
    *,
    deterministic: bool = False,
    obs: Any = None,
    stepper: Stepper | None = None,
) -> Transitions:
    """Collect ``steps`` steps of every env of ``venv`` across episode ends (reset here unless ``obs``).

    ``stepper`` continues where an earlier call left off (the envs mid-episode, the policy's state and
    the episode starts kept): a learner that collects in chunks keeps one and sets its ``policy``.
    """
    n = venv.num_envs
    if stepper is None:
        stepper = Stepper(policy, venv, venv.reset() if obs is None else obs, deterministic)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "actions", "rewards", "next_obs", "term", "trunc")}
    ret, length = np.zeros(n), np.zeros(n, dtype=np.int64)
    ended_returns, ended_lengths = [], []
    for _ in range(steps):
        cols["obs"].append(np.array(stepper.obs))
        actions, next_obs, rewards, terminated, truncated, _ = stepper.step()
        for key, value in zip(
            ("actions", "rewards", "next_obs", "term", "trunc"),
            (actions, rewards, next_obs, terminated, truncated),
            strict=True,
        ):
            cols[key].append(np.asarray(value))
        ret += rewards
        length += 1
        for i in np.flatnonzero(terminated | truncated):
            ended_returns.append(ret[i])
            ended_lengths.append(length[i])
            ret[i], length[i] = 0.0, 0

    def flat(key: str) -> np.ndarray:
        a = np.stack(cols[key])
        return a.reshape(steps * n, *a.shape[2:])

    return Transitions(
        obs=flat("obs"),
        actions=flat("actions"),
        rewards=flat("rewards"),
        next_obs=flat("next_obs"),
        terminated=flat("term"),
        truncated=flat("trunc"),
        episode_returns=np.array(ended_returns, dtype=np.float64),
        episode_lengths=np.array(ended_lengths, dtype=np.int64),
    )
