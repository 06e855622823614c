"""MBPO's buffers: a ring buffer of imagined transitions, and SAC's replay buffer sampling real and imagined.

:class:`ModelBuffer` holds what model rollouts produced (in the SAC policy's action scale, [-1, 1]) and
draws batches with its own ``numpy.random.Generator``. :class:`MixedReplayBuffer` stands where SB3's SAC
expects its replay buffer: ``add`` and everything else SB3 reads (``pos``, ``full``, ``size()``...) go
to the real ``ReplayBuffer``, while ``sample`` draws ``round(real_ratio * batch)`` rows from it (SB3's own
sampling, global numpy generator) and the rest from the model buffer (the paper's mixing within a batch).
Saved as plain npz (``model_buffer.npz``), read with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simrl.errors import CheckpointError
from simrl.utils import atomic

FILE = "model_buffer.npz"
_ARRAYS = ("obs", "actions", "next_obs", "rewards", "dones")


class ModelBuffer:
    """A ring buffer of ``capacity`` imagined transitions (float32 arrays; ``dones`` 1.0 where a row terminated)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, act_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.dones = np.zeros(capacity, np.float32)
        self.pos = 0
        self.full = False

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(
        self, obs: np.ndarray, actions: np.ndarray, next_obs: np.ndarray, rewards: np.ndarray, dones: np.ndarray
    ) -> None:
        """Append rows (the oldest are overwritten once full)."""
        n = len(obs)
        if n >= self.capacity:  # only the newest capacity rows survive
            obs, actions, next_obs, rewards, dones = (
                a[n - self.capacity :] for a in (obs, actions, next_obs, rewards, dones)
            )
            n = self.capacity
        idx = (self.pos + np.arange(n)) % self.capacity
        for name, value in zip(_ARRAYS, (obs, actions, next_obs, rewards, dones), strict=True):
            getattr(self, name)[idx] = value
        self.full = self.full or self.pos + n >= self.capacity
        self.pos = int((self.pos + n) % self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """``n`` rows drawn uniformly with replacement: (obs, actions, next_obs, dones [n, 1], rewards [n, 1])."""
        idx = rng.integers(0, len(self), size=n)
        return self.obs[idx], self.actions[idx], self.next_obs[idx], self.dones[idx, None], self.rewards[idx, None]

    def save(self, path: Path) -> None:
        n = len(self)
        header = np.array([self.pos, int(self.full), self.capacity], dtype=np.int64)
        buf = io.BytesIO()
        np.savez(buf, header=header, **{name: getattr(self, name)[:n] for name in _ARRAYS})
        atomic.write_bytes(path, buf.getvalue())

    def load(self, path: Path) -> None:
        """Fill this buffer from ``path``; CheckpointError (nothing changed) if it is missing, corrupt or misshapen."""
        try:
            with np.load(path, allow_pickle=False) as npz:
                pos, full, capacity = (int(x) for x in npz["header"])
                arrays = {name: npz[name] for name in _ARRAYS}
        except FileNotFoundError:
            raise CheckpointError(f"model buffer '{path}' is missing") from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
            raise CheckpointError(
                f"model buffer '{path}' is truncated or corrupt ({type(e).__name__})", "use another checkpoint"
            ) from None
        if capacity != self.capacity or not 0 <= pos < capacity:
            raise CheckpointError(f"model buffer '{path}' has capacity {capacity}, the settings give {self.capacity}")
        n = capacity if full else pos
        for name, arr in arrays.items():
            want = (n, *getattr(self, name).shape[1:])
            if arr.shape != want:
                raise CheckpointError(f"model buffer '{path}': '{name}' has shape {arr.shape}, expected {want}")
        for name, arr in arrays.items():
            getattr(self, name)[:n] = arr
        self.pos, self.full = pos, bool(full)


class MixedReplayBuffer:
    """SB3's replay buffer for SAC, sampling ``real_ratio`` of each batch from it and the rest from ``imagined``.

    Before the model buffer holds anything, batches are all real.
    """

    def __init__(self, real: Any, imagined: ModelBuffer, real_ratio: float, rng: np.random.Generator) -> None:
        self.real = real
        self.imagined = imagined
        self.real_ratio = real_ratio
        self.rng = rng

    _OWN = frozenset({"real", "imagined", "real_ratio", "rng"})

    # add, pos, full, size(), buffer_size, dones...: the real buffer's, read and written (load_replay_buffer)
    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["real"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.real, name, value)

    def sample(self, batch_size: int, env: Any = None) -> Any:
        from stable_baselines3.common.type_aliases import ReplayBufferSamples

        n_real = batch_size if not len(self.imagined) else round(self.real_ratio * batch_size)
        n_model = batch_size - n_real
        real = self.real.sample(n_real, env=env) if n_real else None
        if not n_model:
            return real
        device = self.real.device
        model = [torch.as_tensor(a, device=device) for a in self.imagined.sample(n_model, self.rng)]
        if real is None:
            return ReplayBufferSamples(*model)
        parts = (real.observations, real.actions, real.next_observations, real.dones, real.rewards)
        return ReplayBufferSamples(*(torch.cat((r, m.to(r.dtype))) for r, m in zip(parts, model, strict=True)))
