"""Torch files of the model-based learners: :func:`save_blob`/:func:`load_blob` for a checkpoint's
``model.pt``/``dynamics.pt``, and the policy file on disk (``policy.pt``).

A policy file is a torch file holding plain data only (tensors, numbers, strings), written atomically and read with
``torch.load(weights_only=True)``: nothing in it is executed. ``simrl`` is the policy's ``simrl.json``
(kind, algorithm, env id, parameters and kwargs, the resolved hyper-parameters, step count) as a JSON
string; ``model`` is :meth:`DynamicsModel.state` without the optimiser.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from simrl.errors import CheckpointError
from simrl.utils import atomic

SUFFIX = ".pt"


# What torch.load raises on a truncated, damaged or foreign file.
_DAMAGED = (OSError, RuntimeError, EOFError, ValueError, TypeError, zipfile.BadZipFile, pickle.UnpicklingError)


def save_blob(path: Path, blob: dict[str, Any]) -> None:
    """``blob`` (tensors, numbers, strings, lists and dicts of them) as a torch file, written atomically."""
    buf = io.BytesIO()
    torch.save(blob, buf)
    atomic.write_bytes(path, buf.getvalue())


def load_blob(path: Path, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """A torch file's mapping, read with ``weights_only=True``; CheckpointError naming ``what`` when it is
    missing, damaged, or lacks one of ``keys``."""
    try:
        blob = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise CheckpointError(f"{what} '{path}' is missing") from None
    except _DAMAGED as e:
        raise CheckpointError(f"{what} '{path}' is corrupt ({type(e).__name__})", "use another checkpoint") from None
    if not isinstance(blob, dict) or not all(k in blob for k in keys):
        raise CheckpointError(f"{what} '{path}' is corrupt (it lacks {', '.join(keys)})", "use another checkpoint")
    return blob


def write(path: Path, info: dict[str, Any], model_state: dict[str, Any]) -> None:
    save_blob(path, {"simrl": json.dumps(info), "model": model_state})


def read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(info, model_state)``; CheckpointError for a missing, corrupt or foreign file."""
    blob = load_blob(path, ("simrl", "model"), "policy file")
    try:
        info = json.loads(blob["simrl"])
    except (TypeError, ValueError):
        info = None
    if not isinstance(info, dict) or not isinstance(blob["model"], dict):
        raise CheckpointError(f"policy file '{path}' is corrupt (no simrl.json or model)")
    return info, blob["model"]
