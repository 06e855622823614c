"""Observation and reward normalization (SB3's ``VecNormalize``) saved as plain npz, and a policy that
acts on normalized observations.

rl-zoo pickles the whole wrapper beside the model (vecnormalize.pkl); simrl writes only its running
statistics and settings with ``np.savez`` (read back with ``allow_pickle=False``): as vecnormalize.npz
in every checkpoint, and as a member of model.zip, so a policy file alone acts as it was trained.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import CheckpointError

FILE = "vecnormalize.npz"
FORMAT = 1
_SETTINGS = ("norm_obs", "norm_reward", "clip_obs", "clip_reward", "gamma", "epsilon")


@dataclass(frozen=True, eq=False)
class Normalization:
    """A ``VecNormalize``'s running statistics (``obs_rms``, ``ret_rms``) and settings, frozen.

    With ``norm_obs`` off the wrapper keeps no observation statistics; ``obs_*`` then hold those of an
    untouched ``RunningMeanStd`` (mean 0, var 1, count 1e-4) so that every file has the same layout.
    """

    obs_mean: np.ndarray
    obs_var: np.ndarray
    obs_count: float
    ret_mean: np.ndarray
    ret_var: np.ndarray
    ret_count: float
    norm_obs: bool
    norm_reward: bool
    clip_obs: float
    clip_reward: float
    gamma: float
    epsilon: float

    @classmethod
    def of(cls, venv: Any) -> Normalization:
        """A copy of the statistics and settings of the ``VecNormalize`` ``venv``."""
        obs_rms = getattr(venv, "obs_rms", None) if venv.norm_obs else None
        shape = venv.observation_space.shape
        return cls(
            obs_mean=np.array(obs_rms.mean) if obs_rms is not None else np.zeros(shape),
            obs_var=np.array(obs_rms.var) if obs_rms is not None else np.ones(shape),
            obs_count=float(obs_rms.count) if obs_rms is not None else 1e-4,
            ret_mean=np.array(venv.ret_rms.mean),
            ret_var=np.array(venv.ret_rms.var),
            ret_count=float(venv.ret_rms.count),
            **{k: getattr(venv, k) for k in _SETTINGS},
        )

    def settings(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _SETTINGS}

    def apply_to(self, venv: Any) -> None:
        """Copy the statistics into the ``VecNormalize`` ``venv``, whose settings must be the same."""
        if self.norm_obs:
            venv.obs_rms.mean, venv.obs_rms.var = self.obs_mean.copy(), self.obs_var.copy()
            venv.obs_rms.count = self.obs_count
        venv.ret_rms.mean, venv.ret_rms.var = self.ret_mean.copy(), self.ret_var.copy()
        venv.ret_rms.count = self.ret_count

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        """``VecNormalize.normalize_obs`` with these statistics (same operations, same float32 result)."""
        if not self.norm_obs:
            return obs
        scaled = (obs - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon)
        return np.clip(scaled, -self.clip_obs, self.clip_obs).astype(np.float32)

    def to_bytes(self) -> bytes:
        """The npz file's content (plain arrays, no pickles)."""
        arrays = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        buf = io.BytesIO()
        np.savez(buf, format=np.int64(FORMAT), **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, raw: bytes, where: str) -> Normalization:
        """Parse what :meth:`to_bytes` wrote; ``where`` names the file in errors.

        Raises:
            CheckpointError: not an npz, a pickle inside, a missing array, a wrong shape or type, a
                value out of range.
        """
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(
                f"{where} is truncated or corrupt ({type(e).__name__})", "use another checkpoint"
            ) from None
        return cls(**_checked(arrays, where))


def _checked(arrays: dict[str, np.ndarray], where: str) -> dict[str, Any]:
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{where} is corrupt: {what}", "use another checkpoint")

    names = [f.name for f in fields(Normalization)]
    missing = [n for n in ("format", *names) if n not in arrays]
    if missing:
        raise bad(f"no {', '.join(missing)}")
    if arrays["format"].shape != () or arrays["format"].dtype.kind not in "iu" or int(arrays["format"]) != FORMAT:
        raise bad(f"format {arrays['format']!r}, expected {FORMAT}")
    out: dict[str, Any] = {}
    for name in names:
        a = arrays[name]
        if name in ("norm_obs", "norm_reward"):
            if a.shape != () or a.dtype != np.bool_:
                raise bad(f"'{name}' is not a boolean")
            out[name] = bool(a)
            continue
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
            raise bad(f"'{name}' is not finite floating-point numbers")
        if name in ("obs_mean", "obs_var", "ret_mean", "ret_var"):
            out[name] = a.copy()
        elif a.shape != ():
            raise bad(f"'{name}' has shape {a.shape}, expected a number")
        else:
            out[name] = float(a)
    if out["obs_mean"].shape != out["obs_var"].shape or out["ret_mean"].shape != () or out["ret_var"].shape != ():
        raise bad("the means and variances do not have matching shapes")
    if np.any(out["obs_var"] < 0) or out["ret_var"] < 0 or out["obs_count"] <= 0 or out["ret_count"] <= 0:
        raise bad("a negative variance or a count not above 0")
    if not (out["clip_obs"] > 0 and out["clip_reward"] > 0 and out["epsilon"] > 0 and 0 <= out["gamma"] <= 1):
        raise bad("clip_obs, clip_reward or epsilon not above 0, or gamma outside [0, 1]")
    return out


def read(path: str | Path) -> Normalization:
    """The statistics in the npz file at ``path``.

    Raises:
        CheckpointError: a missing or malformed file.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"normalization statistics '{path}' are missing", "use another checkpoint") from None
    except OSError as e:
        raise CheckpointError(f"cannot read normalization statistics '{path}' ({type(e).__name__})") from None
    return Normalization.from_bytes(raw, f"normalization statistics '{path}'")


def check_fits(stats: Normalization, obs_shape: tuple[int, ...], where: str) -> None:
    """Raise CheckpointError unless the observation statistics fit observations of ``obs_shape``."""
    if stats.obs_mean.shape != tuple(obs_shape):
        raise CheckpointError(
            f"{where} normalizes observations of shape {stats.obs_mean.shape}, the env has {tuple(obs_shape)}",
            "the file is from another env",
        )


class NormalizedPolicy:
    """A policy whose model was trained on normalized observations: ``predict`` normalizes raw ones first.

    ``normalizer`` is a frozen :class:`Normalization` (a loaded policy file) or the training
    ``VecNormalize`` itself (read through, so the trainer's policy sees the current statistics);
    either way acting never updates the statistics.
    """

    def __init__(self, model: Any, normalizer: Any) -> None:
        self.model = model
        self.normalizer = normalizer

    def predict(
        self,
        observation: np.ndarray,
        state: object = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, object]:
        obs = self.normalizer.normalize_obs(observation)
        return self.model.predict(obs, state, episode_start, deterministic)
