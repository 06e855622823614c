"""What a demonstrations file (``simrl.data.demos``) must satisfy before anything trains on it.

A file from elsewhere may be truncated, edited or of something else: every entry is checked for its
dtype, shape and finite values, the episodes for their boundaries and returns, and the metadata for
its keys and types. Each problem is one :class:`~simrl.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import CheckpointError

FORMAT = "simrl-demos"
VERSION = 2
"""Version 2 added ``expert_actions`` and the metadata's ``noise``; version 1 files are still read (their
``expert_actions`` are their ``actions``, their noise 0)."""
READABLE = (1, 2)
ARRAYS = (
    "observations",
    "actions",
    "expert_actions",
    "rewards",
    "next_observations",
    "terminated",
    "truncated",
    "episode_returns",
    "episode_lengths",
)
_REAL = "biuf"  # bool, signed and unsigned integers, floats: what observations and actions may be
_KINDS = {
    "observations": _REAL,
    "actions": _REAL,
    "expert_actions": _REAL,
    "rewards": "f",
    "next_observations": _REAL,
    "terminated": "b",
    "truncated": "b",
    "episode_returns": "f",
    "episode_lengths": "iu",
}
_META_TYPES: dict[str, type | tuple[type, ...]] = {  # and "noise", a number at least 0
    "env_id": str,
    "env_kwargs": dict,
    "env_params": dict,
    "source": dict,
    "seed": int,
    "deterministic": bool,
    "simrl_version": str,
}


def _error(path: Path, what: str) -> CheckpointError:
    return CheckpointError(f"demonstrations '{path}' {what}", "write them again with 'simrl collect'")


def check_metadata(path: Path, entry: np.ndarray) -> dict[str, Any]:
    """The metadata entry (a one-element array of JSON text) as a checked mapping."""
    if entry.shape != (1,) or entry.dtype.kind != "U":
        raise _error(path, f"hold metadata of shape {entry.shape} and dtype {entry.dtype}, not one JSON string")
    try:
        meta = json.loads(str(entry[0]))
    except ValueError:
        raise _error(path, "hold metadata that is not JSON") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _error(path, f"are not of the format '{FORMAT}'")
    if meta.get("version") not in READABLE:
        raise CheckpointError(
            f"demonstrations '{path}' are of format version {meta.get('version')!r}; this simrl reads "
            f"{' and '.join(map(str, READABLE))}",
            "collect them again with this simrl",
        )
    if meta["version"] == 1:
        meta = {**meta, "noise": 0.0}
    for key, kind in _META_TYPES.items():
        value = meta.get(key)
        # bool is an int in Python: a seed of true is no seed
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _error(path, f"hold metadata whose '{key}' is {value!r}, not a {getattr(kind, '__name__', kind)}")
    noise = meta.get("noise")
    if isinstance(noise, bool) or not isinstance(noise, int | float) or not (math.isfinite(noise) and noise >= 0):
        raise _error(path, f"hold metadata whose 'noise' is {noise!r}, not a number at least 0")
    if not meta["env_id"]:
        raise _error(path, "hold metadata with an empty 'env_id'")
    params = meta["env_params"]
    if any(not isinstance(v, int | float) or isinstance(v, bool) for v in params.values()):
        raise _error(path, "hold metadata whose 'env_params' are not all numbers")
    source = meta["source"]
    if set(source) != {"path", "kind", "algo"} or not isinstance(source["path"], str):
        raise _error(path, "hold metadata whose 'source' is not {path, kind, algo}")
    if not isinstance(source["kind"], str) or not isinstance(source["algo"], str | None):
        raise _error(path, "hold metadata whose 'source' kind or algo is not a name")
    return meta


def check_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Dtypes, shapes, finite values and episode boundaries of the arrays."""
    for name, kinds in _KINDS.items():
        a = arrays[name]
        if a.dtype.kind not in kinds:
            raise _error(path, f"hold {name} of dtype {a.dtype}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise _error(path, f"hold non-finite {name}")
    n = len(arrays["rewards"]) if arrays["rewards"].ndim == 1 else -1
    obs = arrays["observations"]
    want = {
        "rewards": "[N]",
        "terminated": "[N]",
        "truncated": "[N]",
        "observations": "[N, *obs_shape]",
        "actions": "[N, *act_shape]",
        "expert_actions": "the shape of actions",
        "next_observations": "the shape of observations",
        "episode_returns": "[E]",
        "episode_lengths": "[E]",
    }
    fits = {
        "rewards": n >= 1,
        "terminated": arrays["terminated"].shape == (n,),
        "truncated": arrays["truncated"].shape == (n,),
        "observations": obs.ndim >= 2 and len(obs) == n,
        "actions": arrays["actions"].ndim >= 1 and len(arrays["actions"]) == n,
        "expert_actions": arrays["expert_actions"].shape == arrays["actions"].shape,
        "next_observations": arrays["next_observations"].shape == obs.shape,
        "episode_returns": arrays["episode_returns"].ndim == 1 and len(arrays["episode_returns"]) >= 1,
        "episode_lengths": arrays["episode_lengths"].shape == arrays["episode_returns"].shape,
    }
    for name, ok in fits.items():
        if not ok:
            raise _error(path, f"hold {name} of shape {arrays[name].shape}, not {want[name]}")
    if arrays["next_observations"].dtype != obs.dtype:
        raise _error(path, f"hold next_observations of dtype {arrays['next_observations'].dtype}, not {obs.dtype}")
    _check_episodes(path, arrays)


def _check_episodes(path: Path, arrays: dict[str, np.ndarray]) -> None:
    lengths = arrays["episode_lengths"].astype(np.int64)
    n = len(arrays["rewards"])
    if (lengths < 1).any() or lengths.sum() != n:
        raise _error(path, f"hold episode lengths {_show(lengths)} that do not split their {n} rows")
    terminated, truncated = arrays["terminated"], arrays["truncated"]
    if (terminated & truncated).any():
        raise _error(path, "hold rows both terminated and truncated")
    ends = np.cumsum(lengths) - 1
    last = np.zeros(n, dtype=bool)
    last[ends] = True
    if not np.array_equal(terminated | truncated, last):
        raise _error(path, "hold episodes that do not end exactly where their lengths say (terminated or truncated)")
    sums = np.add.reduceat(arrays["rewards"], ends - lengths + 1)
    if not np.allclose(sums, arrays["episode_returns"], rtol=1e-6, atol=1e-6):
        raise _error(path, "hold episode returns that are not the sums of their rewards")


def _show(a: np.ndarray) -> str:
    return str(a.tolist()) if len(a) <= 6 else f"[{', '.join(str(x) for x in a[:3])}, ...]"
