"""DAgger's pieces as plain functions and records: the expert's share per round, the mixed policy, the dataset.

- :func:`beta_at`: beta_i, the probability that the expert acts at an env step of round ``i``.
- :class:`MixedPolicy`: a :class:`~simrl.types.Policy` that, at every env step and in every env, acts with
  the expert with probability beta and with the learner otherwise (the original's per-step mixture,
  Ross et al. 2011: pi_i = beta_i pi* + (1 - beta_i) pi_hat_i), and records the expert's deterministic action
  for the state as its label whoever acted. Both act deterministically.
- :func:`rollout_round`: a round's episodes of the mixed policy through the one rollout collector, as
  labelled rows (:class:`Visited`).
- :class:`Dataset`: the aggregated (observation, expert action) rows with the round that added each, one
  npz without pickles.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from simrl.data import rollout
from simrl.errors import CheckpointError, ConfigError
from simrl.types import Policy

SCHEDULES = ("inverse", "linear", "exponential", "constant")


def beta_at(i: int, schedule: str, *, rounds: int, beta: float = 1.0, decay: float = 0.5) -> float:
    """The expert's share in round ``i``: ``inverse`` 1/(1 + i) (the original's and the imitation library's
    default), ``linear`` max(0, 1 - i/rounds), ``exponential`` decay**i, ``constant`` beta. Round 0 is 1 for
    every schedule but ``constant``: it is behaviour cloning on the expert's demonstrations.

    Raises:
        ConfigError: an unknown schedule, a negative round.
    """
    if i < 0:
        raise ConfigError(f"rounds count from 0, got {i}")
    if schedule == "inverse":
        return 1.0 / (1.0 + i)
    if schedule == "linear":
        return max(0.0, 1.0 - i / rounds)
    if schedule == "exponential":
        return float(decay**i)
    if schedule == "constant":
        return float(beta)
    raise ConfigError(f"beta_schedule must be one of {', '.join(SCHEDULES)}, got '{schedule}'")


class MixedPolicy:
    """Acts with ``expert`` where a uniform draw from ``rng`` falls below ``beta`` (one draw per env and
    step, so beta 1 is always the expert and beta 0 never), with ``learner`` elsewhere; :attr:`labels`
    holds the expert's action at every step ([n_envs, *act_shape] each) and :attr:`expert_acted` where it
    acted. The expert sees every step, so a planner's warm start or a recurrent state stays its own."""

    def __init__(self, expert: Policy, learner: Policy, beta: float, rng: np.random.Generator) -> None:
        self.expert, self.learner, self.beta, self.rng = expert, learner, float(beta), rng
        self.labels: list[np.ndarray] = []
        self.expert_acted: list[np.ndarray] = []

    def predict(
        self,
        observation: np.ndarray,
        state: object = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, object]:
        expert_state, learner_state = state if isinstance(state, tuple) else (None, None)
        label, expert_state = self.expert.predict(
            observation, state=expert_state, episode_start=episode_start, deterministic=True
        )
        label = np.asarray(label)
        use = self.rng.random(len(label)) < self.beta
        action = label
        if not use.all():
            own, learner_state = self.learner.predict(
                observation, state=learner_state, episode_start=episode_start, deterministic=True
            )
            action = np.where(use.reshape(-1, *[1] * (label.ndim - 1)), label, np.asarray(own, dtype=label.dtype))
        self.labels.append(label.copy())
        self.expert_acted.append(use)
        return action, (expert_state, learner_state)


class Visited(NamedTuple):
    """A round's rows, episode by episode (env-major, as demonstrations are laid out)."""

    obs: np.ndarray
    labels: np.ndarray
    """The expert's deterministic action for each visited state."""
    actions: np.ndarray
    """The action taken: the expert's where ``expert_acted``, the learner's elsewhere."""
    expert_acted: np.ndarray
    returns: np.ndarray
    """(episodes,) the mixed policy's undiscounted returns."""


def episode_rows(per_step: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The rows of each env's first episode from a per-step array [T, n_envs, ...]: env 0's ``lengths[0]``
    steps, then env 1's, ... (``rollout.episodes`` keeps stepping envs whose episode has ended)."""
    mask = np.arange(per_step.shape[0])[None, :] < np.asarray(lengths)[:, None]
    return np.swapaxes(per_step, 0, 1)[mask]


def rollout_round(expert: Policy, learner: Policy, venv: Any, beta: float, rng: np.random.Generator) -> Visited:
    """One episode in each env of ``venv`` (seeded by the caller) with the mixed policy, labelled."""
    mixed = MixedPolicy(expert, learner, beta, rng)
    ran = rollout.episodes(mixed, venv, deterministic=True, keep=True)
    assert ran.obs is not None and ran.actions is not None
    return Visited(
        obs=episode_rows(ran.obs[:-1], ran.lengths),
        labels=episode_rows(np.stack(mixed.labels), ran.lengths),
        actions=episode_rows(ran.actions, ran.lengths),
        expert_acted=episode_rows(np.stack(mixed.expert_acted), ran.lengths),
        returns=np.asarray(ran.returns, dtype=np.float64),
    )


@dataclass(frozen=True, eq=False)
class Dataset:
    """The aggregated rows: observations, the expert's actions for them, and the round that added each."""

    obs: np.ndarray
    labels: np.ndarray
    rounds: np.ndarray

    def __len__(self) -> int:
        return len(self.rounds)

    @classmethod
    def demonstrated(cls, obs: np.ndarray, actions: np.ndarray) -> Dataset:
        """Round 0: the demonstrations' rows (their dtypes are the dataset's)."""
        if len(obs) != len(actions):
            raise ValueError(f"{len(obs)} observations and {len(actions)} actions")
        return cls(np.asarray(obs), np.asarray(actions), np.zeros(len(obs), dtype=np.int64))

    def add(self, obs: np.ndarray, labels: np.ndarray, round_: int) -> Dataset:
        """A dataset with ``obs``/``labels`` appended as round ``round_``'s rows."""
        if len(obs) != len(labels):
            raise ValueError(f"{len(obs)} observations and {len(labels)} labels")
        return Dataset(
            obs=np.concatenate([self.obs, np.asarray(obs, dtype=self.obs.dtype)]),
            labels=np.concatenate([self.labels, np.asarray(labels, dtype=self.labels.dtype)]),
            rounds=np.concatenate([self.rounds, np.full(len(obs), round_, dtype=np.int64)]),
        )

    def save(self, path: Path) -> None:
        """One npz (obs, labels, rounds), written atomically."""
        from simrl.utils import atomic

        buf = io.BytesIO()
        np.savez(buf, obs=self.obs, labels=self.labels, rounds=self.rounds)
        atomic.write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path, obs_shape: tuple[int, ...], act_shape: tuple[int, ...]) -> Dataset:
        """Read what :meth:`save` wrote; CheckpointError for a missing, corrupt or foreign file."""
        import zipfile

        try:
            with np.load(path, allow_pickle=False) as z:
                obs, labels, rounds = z["obs"], z["labels"], z["rounds"]
        except FileNotFoundError:
            raise CheckpointError(f"DAgger dataset '{path}' is missing") from None
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError, AttributeError) as e:
            raise CheckpointError(f"DAgger dataset '{path}' is corrupt ({type(e).__name__})") from None
        n = len(rounds)
        if (
            obs.shape != (n, *obs_shape)
            or labels.shape != (n, *act_shape)
            or rounds.dtype != np.int64
            or not (np.isfinite(obs).all() and np.isfinite(labels).all())
            or np.any(np.diff(rounds) < 0)
        ):
            raise CheckpointError(f"DAgger dataset '{path}' does not fit this run (shapes, rounds or values)")
        return cls(obs, labels, rounds)
