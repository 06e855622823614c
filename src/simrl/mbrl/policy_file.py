"""A model-based policy on disk: ``policy.pt``, the dynamics model's tensors and what it plans with.

A torch file holding plain data only (tensors, numbers, strings), written atomically and read with
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


def write(path: Path, info: dict[str, Any], model_state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save({"simrl": json.dumps(info), "model": model_state}, buf)
    atomic.write_bytes(path, buf.getvalue())


def read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(info, model_state)``; CheckpointError for a missing, corrupt or foreign file."""
    try:
        blob = torch.load(path, weights_only=True, map_location="cpu")
        info = json.loads(blob["simrl"])
        state = blob["model"]
    except FileNotFoundError:
        raise CheckpointError(f"policy file '{path}' does not exist") from None
    except (
        OSError,
        RuntimeError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
    ) as e:
        raise CheckpointError(f"policy file '{path}' is corrupt or not simrl's ({type(e).__name__})") from None
    if not isinstance(info, dict) or not isinstance(state, dict):
        raise CheckpointError(f"policy file '{path}' is corrupt (no simrl.json or model)")
    return info, state
