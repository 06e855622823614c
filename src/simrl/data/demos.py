"""Demonstrations: whole episodes of a policy and where they came from, in one npz file (no pickles).

What ``simrl collect`` writes and imitation reads. Rows are transitions, grouped episode by episode
in order: episode ``e`` is rows ``episode_starts[e] : episode_starts[e] + episode_lengths[e]``, with
``episode_starts`` the running sum of ``episode_lengths`` (derived, not stored). The file holds:

=====================  ====================  ==================================================
key                    shape, dtype          meaning
=====================  ====================  ==================================================
observations           [N, *obs_shape]       what the policy saw (the env's dtype)
actions                [N, *act_shape]       what was done (the action space's dtype)
expert_actions         [N, *act_shape]       what the policy chose: ``actions`` before the
                                             collection's noise (equal to them without noise);
                                             what imitation fits
rewards                [N] float64
next_observations      [N, *obs_shape]       the observation the action led to: at an episode's
                                             end the terminal one, not the next episode's first
terminated, truncated  [N] bool              True only on an episode's last row, one of the two
episode_returns        [E] float64           undiscounted, the sums of the episodes' rewards
episode_lengths        [E] int64             >= 1, summing to N
metadata               [1] str               JSON: format, version, env_id, env_kwargs,
                                             env_params, source (path, kind, algo), seed,
                                             deterministic, noise, simrl_version
=====================  ====================  ==================================================

``noise`` > 0 records the policy as DART does (Laskey et al. 2017, "DART: Noise Injection for Robust
Imitation Learning"): the env takes the policy's action plus Gaussian noise of standard deviation
``noise`` times half the action range (clipped to the bounds), and ``expert_actions`` keeps the clean
action as the label. A clone fitted to the labels then sees the states a slightly wrong policy reaches
and how the expert recovers from them, which a clone of noise-free episodes never sees. The transitions
(``actions``, ``rewards``, ``next_observations``) are what happened, so RL can learn from them.

:func:`collect` records a policy through the one rollout collector; :meth:`Demos.load` checks a file
whole (keys, dtypes, shapes, episode boundaries, finite values, the env and shapes the caller expects)
and raises one :class:`~simrl.errors.CheckpointError` for anything wrong.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from simrl.data import rollout
from simrl.data.demos_checks import ARRAYS, FORMAT, VERSION, check_arrays, check_metadata
from simrl.errors import CheckpointError, ConfigError, EnvError
from simrl.types import Policy

REQUIRED = tuple(name for name in ARRAYS if name != "expert_actions")
"""What every readable file holds (version 1 files have no ``expert_actions``)."""


@dataclass(frozen=True)
class Source:
    """The policy that acted: its file (or run folder), its learner kind and algorithm (None if unknown)."""

    path: str
    kind: str
    algo: str | None = None


class Episode(NamedTuple):
    """One episode's rows (views into the demonstrations' arrays)."""

    observations: np.ndarray
    actions: np.ndarray
    expert_actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


@dataclass(frozen=True)
class Demos:
    """Whole episodes of one policy in one env (the layout is in this module's docstring)."""

    observations: np.ndarray
    actions: np.ndarray
    expert_actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode_returns: np.ndarray
    episode_lengths: np.ndarray
    env_id: str
    source: Source
    seed: int
    deterministic: bool
    noise: float = 0.0
    """The standard deviation of the collection's action noise, in half action ranges (0: none)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """The env's constructor arguments the episodes ran with (``reward="alive"``)."""
    env_params: dict[str, float] = field(default_factory=dict)
    """The simulator parameters the episodes ran with, all of them (empty for an env without any)."""
    simrl_version: str = ""

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_lengths)

    @property
    def episode_starts(self) -> np.ndarray:
        """(E,) the first row of each episode."""
        return np.concatenate([[0], np.cumsum(self.episode_lengths)[:-1]]).astype(np.int64)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return tuple(self.observations.shape[1:])

    @property
    def act_shape(self) -> tuple[int, ...]:
        return tuple(self.actions.shape[1:])

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.episode_returns))

    @property
    def std_return(self) -> float:
        return float(np.std(self.episode_returns))

    def episode(self, e: int) -> Episode:
        """Episode ``e``'s rows (0-based; negative counts from the end)."""
        return self._rows(int(self.episode_starts[e]), int(self.episode_lengths[e]))

    def episodes(self) -> Iterator[Episode]:
        """Every episode in order."""
        for start, length in zip(self.episode_starts.tolist(), self.episode_lengths.tolist(), strict=True):
            yield self._rows(start, length)

    def _rows(self, start: int, length: int) -> Episode:
        return Episode(*(getattr(self, name)[start : start + length] for name in Episode._fields))

    def first(self, k: int) -> Demos:
        """The first ``k`` episodes (1 <= k <= n_episodes), with the same metadata.

        Raises:
            ConfigError: ``k`` outside 1..n_episodes.
        """
        if not 1 <= k <= self.n_episodes:
            raise ConfigError(f"asked for the first {k} episodes of demonstrations holding {self.n_episodes}")
        n = int(np.sum(self.episode_lengths[:k]))
        rows = {name: getattr(self, name)[:n] for name in Episode._fields}
        per_episode = {"episode_returns": self.episode_returns[:k], "episode_lengths": self.episode_lengths[:k]}
        return dataclasses.replace(self, **rows, **per_episode)

    def metadata(self) -> dict[str, Any]:
        """What the file's ``metadata`` entry holds."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "env_params": self.env_params,
            "source": {"path": self.source.path, "kind": self.source.kind, "algo": self.source.algo},
            "seed": self.seed,
            "deterministic": self.deterministic,
            "noise": self.noise,
            "simrl_version": self.simrl_version,
        }

    def save(self, path: str | Path) -> None:
        """Write the npz to ``path`` atomically (a temporary file beside it, then a rename)."""
        from simrl.utils import atomic

        buf = io.BytesIO()
        arrays = {name: getattr(self, name) for name in ARRAYS}
        np.savez(buf, **arrays, metadata=np.array([json.dumps(self.metadata())]))
        atomic.write_bytes(path, buf.getvalue())

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        env_id: str | None = None,
        obs_shape: tuple[int, ...] | None = None,
        act_shape: tuple[int, ...] | None = None,
    ) -> Demos:
        """Read and check a demonstrations file; ``env_id``, ``obs_shape`` and ``act_shape``, when
        given, are what the caller needs (the env it will train or evaluate on).

        Raises:
            CheckpointError: a missing or unreadable file, a missing key, a wrong dtype or shape,
                inconsistent episodes, non-finite values, metadata simrl cannot read, or another env
                or other shapes than asked for.
        """
        path = Path(path)
        arrays, text = _read(path)
        meta = check_metadata(path, text)
        if meta["version"] == 1:  # before expert_actions: the actions were the policy's own
            arrays.setdefault("expert_actions", arrays["actions"])
        elif "expert_actions" not in arrays:
            raise CheckpointError(f"demonstrations '{path}' lack expert_actions", "not written by 'simrl collect'")
        check_arrays(path, arrays)
        demos = cls(
            **arrays,
            env_id=meta["env_id"],
            source=Source(**meta["source"]),
            seed=meta["seed"],
            deterministic=meta["deterministic"],
            noise=float(meta["noise"]),
            env_kwargs=meta["env_kwargs"],
            env_params={k: float(v) for k, v in meta["env_params"].items()},
            simrl_version=meta["simrl_version"],
        )
        hint = "collect demonstrations of that env with 'simrl collect'"
        if env_id is not None and demos.env_id != env_id:
            raise CheckpointError(f"demonstrations '{path}' are of {demos.env_id}, not {env_id}", hint)
        for name, want, got in (("observations", obs_shape, demos.obs_shape), ("actions", act_shape, demos.act_shape)):
            if want is not None and tuple(want) != got:
                raise CheckpointError(
                    f"demonstrations '{path}' hold {name} of shape {got}, not {tuple(want)}",
                    hint,
                )
        return demos


def _read(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The file's arrays and its metadata entry, read without unpickling anything."""
    if not path.is_file():
        raise CheckpointError(f"demonstrations '{path}' do not exist", "write them with 'simrl collect'")
    corrupt = (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError)
    try:
        z = np.load(path, allow_pickle=False)  # not an npy or npz: numpy takes it for a pickle and refuses
    except corrupt:
        raise CheckpointError(
            f"demonstrations '{path}' are not an npz file", "write them with 'simrl collect'"
        ) from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise CheckpointError(f"demonstrations '{path}' are one array, not an npz file of several")
    with z:
        missing = [name for name in (*REQUIRED, "metadata") if name not in z.files]
        if missing:
            raise CheckpointError(
                f"demonstrations '{path}' lack {', '.join(missing)}", "not written by 'simrl collect'"
            )
        try:
            arrays = {name: z[name] for name in ARRAYS if name in z.files}
            text = z["metadata"]
        except ValueError as e:
            if "allow_pickle" in str(e):
                raise CheckpointError(
                    f"demonstrations '{path}' hold pickled objects", "simrl never unpickles"
                ) from None
            raise CheckpointError(f"demonstrations '{path}' are truncated or corrupt (ValueError)") from None
        except corrupt as e:
            raise CheckpointError(f"demonstrations '{path}' are truncated or corrupt ({type(e).__name__})") from None
    return arrays, text


def from_rollout(
    ran: rollout.Episodes,
    *,
    env_id: str,
    source: Source,
    seed: int,
    deterministic: bool,
    env_kwargs: Mapping[str, Any] | None = None,
    env_params: Mapping[str, float] | None = None,
    expert_actions: np.ndarray | None = None,
    noise: float = 0.0,
) -> Demos:
    """The episodes the collector kept (``rollout.episodes(..., keep=True)``), env by env.

    ``expert_actions``, laid out as ``ran.actions``, are the policy's own actions where the env took
    noisy ones (``noise`` > 0); without them the actions taken are the policy's. An episode the collector
    cut at its step limit (neither terminated nor truncated) is marked truncated on its last row: it
    ended there.
    """
    import simrl

    assert ran.obs is not None and ran.actions is not None and ran.rewards is not None
    assert ran.terminated is not None and ran.truncated is not None
    steps = len(ran.rewards)
    lengths = np.asarray(ran.lengths, dtype=np.int64)
    mask = np.arange(steps)[None, :] < lengths[:, None]  # [n envs, T]: env-major rows, in time order

    def rows(a: np.ndarray) -> np.ndarray:
        return np.swapaxes(a, 0, 1)[mask]

    terminated, truncated = rows(ran.terminated), rows(ran.truncated)
    ends = np.cumsum(lengths) - 1
    truncated[ends] |= ~terminated[ends] & ~truncated[ends]
    return Demos(
        observations=rows(ran.obs[:-1]),
        actions=rows(ran.actions),
        expert_actions=rows(ran.actions if expert_actions is None else expert_actions),
        rewards=rows(ran.rewards).astype(np.float64),
        next_observations=rows(ran.obs[1:]),
        terminated=terminated.astype(bool),
        truncated=truncated.astype(bool),
        episode_returns=np.asarray(ran.returns, dtype=np.float64),
        episode_lengths=lengths,
        env_id=env_id,
        source=source,
        seed=int(seed),
        deterministic=bool(deterministic),
        noise=float(noise),
        env_kwargs=dict(env_kwargs or {}),
        env_params={k: float(v) for k, v in (env_params or {}).items()},
        simrl_version=simrl.__version__,
    )


def collect(
    policy: Policy,
    env_id: str,
    episodes: int,
    *,
    source: Source,
    seed: int = 0,
    deterministic: bool = True,
    params: Mapping[str, float] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    noise: float = 0.0,
) -> Demos:
    """Record ``episodes`` whole episodes of ``policy`` through the rollout collector.

    The episodes run side by side in ``episodes`` envs seeded from ``seed``, exactly as ``simrl eval``
    runs its evaluation episodes from its seed, so a deterministic policy collected with eval's seed
    repeats eval's returns. ``noise`` > 0 perturbs the actions the env takes (this module's docstring;
    the noise drawn from ``seed``) and keeps the policy's own as ``expert_actions``.

    Raises:
        ConfigError: ``episodes`` below 1, ``noise`` negative or not finite, noise on actions that are not
            a Box. EnvError: an env whose observations are not one array (Box).
    """
    import gymnasium as gym

    from simrl.envs.vec import make_vec_env, param_space

    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    check_noise(noise)
    space = param_space(env_id)
    if len(space):  # every parameter the episodes run with, the defaults included
        params = dict(space.make(params))
    venv = make_vec_env(env_id, episodes, seed=seed, params=params, env_kwargs=env_kwargs)
    try:
        if not isinstance(venv.observation_space, gym.spaces.Box):
            raise EnvError(
                f"demonstrations need observations that are one array; {env_id} observes "
                f"{type(venv.observation_space).__name__}"
            )
        if noise > 0 and not isinstance(venv.action_space, gym.spaces.Box):
            raise ConfigError(f"--noise perturbs continuous actions; {env_id} acts in {venv.action_space}")
        acting = NoisyPolicy(policy, venv.action_space, noise, seed) if noise > 0 else policy
        ran = rollout.episodes(acting, venv, deterministic=deterministic, keep=True)
    finally:
        venv.close()
    return from_rollout(
        ran,
        env_id=env_id,
        source=source,
        seed=seed,
        deterministic=deterministic,
        env_kwargs=env_kwargs,
        env_params=params,
        expert_actions=acting.chosen() if isinstance(acting, NoisyPolicy) else None,
        noise=noise,
    )


def check_noise(noise: float) -> None:
    """ConfigError unless ``noise`` (a collection's, in half action ranges) is a finite number at least 0."""
    if not (math.isfinite(noise) and noise >= 0):
        raise ConfigError(f"--noise must be a number at least 0, got {noise}", "0.1: a tenth of half the range")


class NoisyPolicy:
    """A :class:`~simrl.types.Policy` that acts as ``policy`` with Gaussian noise added (DART's collection),
    keeping the actions ``policy`` chose, one batch per call (:meth:`chosen`), beside the noisy ones it
    returns. Called once per step, as the rollout collector calls it."""

    def __init__(self, policy: Policy, space: Any, noise: float, seed: int) -> None:
        self.policy = policy
        self.low, self.high = space.low, space.high
        self.scale = noise * (space.high - space.low) / 2.0
        self.rng = np.random.default_rng(seed)
        self._chosen: list[np.ndarray] = []

    def predict(
        self,
        observation: np.ndarray,
        state: object = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, object]:
        actions, state = self.policy.predict(
            observation, state=state, episode_start=episode_start, deterministic=deterministic
        )
        actions = np.asarray(actions)
        self._chosen.append(actions.copy())
        noisy = np.clip(actions + self.rng.standard_normal(actions.shape) * self.scale, self.low, self.high)
        return noisy.astype(actions.dtype), state

    def chosen(self) -> np.ndarray:
        """(T, n, *act_shape) the policy's own actions, call by call."""
        return np.stack(self._chosen)


def normalized_score(score: float | np.ndarray, *, expert: float, random: float) -> float | np.ndarray:
    """``(score - random) / (expert - random)``: 0 at the random policy's mean return, 1 at the expert's.

    Raises:
        ConfigError: expert and random means equal (no scale to normalize by).
    """
    if expert == random:
        raise ConfigError(f"cannot normalize: the expert and random means are both {expert}")
    normalized = (np.asarray(score, dtype=np.float64) - random) / (expert - random)
    return float(normalized) if np.ndim(normalized) == 0 else normalized
