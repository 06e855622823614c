"""Every real transition a model-based learner has collected: what its dynamics model is fitted on.

One typed record (:class:`TransitionData`), one writer and one reader of ``dataset.npz`` (plain arrays,
no pickles). The store grows by doubling, so adding a chunk of steps costs amortised O(chunk).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from simrl.data.rollout import Transitions
from simrl.errors import CheckpointError
from simrl.utils import atomic

FILE = "dataset.npz"
_FIELDS = ("obs", "actions", "next_obs", "rewards", "terminated", "truncated")


class TransitionData(NamedTuple):
    """Views of the first ``n`` transitions (row i: ``obs[i]``, ``actions[i]`` -> ``next_obs[i]``, ``rewards[i]``)."""

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray


class TransitionStore:
    """A growing store of transitions of one env's shapes (float32 observations and actions)."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.n = 0
        self._arrays = self._empty(0)

    def _empty(self, capacity: int) -> dict[str, np.ndarray]:
        od, ad = self.obs_dim, self.act_dim
        return {
            "obs": np.empty((capacity, od), np.float32),
            "actions": np.empty((capacity, ad), np.float32),
            "next_obs": np.empty((capacity, od), np.float32),
            "rewards": np.empty(capacity, np.float32),
            "terminated": np.empty(capacity, bool),
            "truncated": np.empty(capacity, bool),
        }

    def __len__(self) -> int:
        return self.n

    def add(self, t: Transitions) -> None:
        """Append what the rollout collector gathered (terminal observations as ``next_obs``)."""
        k = len(t)
        if self.n + k > len(self._arrays["obs"]):
            grown = self._empty(max(2 * len(self._arrays["obs"]), self.n + k, 1024))
            for name, a in self._arrays.items():
                grown[name][: self.n] = a[: self.n]
            self._arrays = grown
        rows = slice(self.n, self.n + k)
        a = self._arrays
        a["obs"][rows] = np.asarray(t.obs, np.float32).reshape(k, self.obs_dim)
        a["actions"][rows] = np.asarray(t.actions, np.float32).reshape(k, self.act_dim)
        a["next_obs"][rows] = np.asarray(t.next_obs, np.float32).reshape(k, self.obs_dim)
        a["rewards"][rows] = t.rewards
        a["terminated"][rows] = t.terminated
        a["truncated"][rows] = t.truncated
        self.n += k

    def data(self) -> TransitionData:
        return TransitionData(*(self._arrays[name][: self.n] for name in _FIELDS))

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        np.savez(buf, **self.data()._asdict())
        atomic.write_bytes(path, buf.getvalue())

    def load(self, path: Path) -> None:
        """Replace the contents with ``path``'s; CheckpointError (nothing changed) if it does not fit."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {name: z[name] for name in _FIELDS}
        except FileNotFoundError:
            raise CheckpointError(f"dataset '{path}' is missing") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
            raise CheckpointError(f"dataset '{path}' is truncated or corrupt ({type(e).__name__})") from None
        n = len(arrays["rewards"])
        want = {"obs": (n, self.obs_dim), "actions": (n, self.act_dim), "next_obs": (n, self.obs_dim)}
        for name, a in arrays.items():
            if a.shape != want.get(name, (n,)):
                raise CheckpointError(f"dataset '{path}' holds {name} of shape {a.shape}, not {want.get(name, (n,))}")
        store = self._empty(max(n, 1024))
        for name, a in arrays.items():
            store[name][:n] = a
        self._arrays, self.n = store, n
