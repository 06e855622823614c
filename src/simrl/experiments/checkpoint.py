"""Checkpoints: ``checkpoints/<pct>/`` written whole into a temporary folder and renamed into place.

A checkpoint holds model.zip (weights, optimiser states, counters), replay_buffer.npz for
off-policy algorithms, state.json (step, random states, evaluation state) and eval.npz.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simrl.errors import CheckpointError
from simrl.utils import atomic

REQUIRED = ("model.zip", "state.json")


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    pct: int
    step: int
    state: dict[str, Any]


def checkpoint_dir(run_dir: Path, pct: int) -> Path:
    return run_dir / "checkpoints" / f"{pct:03d}"


def write(run_dir: Path, pct: int, files: dict[str, Any]) -> Path:
    """Write a checkpoint atomically. ``files`` maps a file name to a writer ``fn(path)``."""
    final = checkpoint_dir(run_dir, pct)
    with atomic.atomic_dir(final) as tmp:
        for name, writer in files.items():
            writer(tmp / name)
    return final


def read(path: Path) -> Checkpoint:
    for name in REQUIRED:
        if not (path / name).is_file():
            raise CheckpointError(f"checkpoint '{path}' is incomplete: {name} is missing")
    try:
        state = json.loads((path / "state.json").read_text())
        return Checkpoint(path=path, pct=int(path.name), step=int(state["step"]), state=state)
    except (json.JSONDecodeError, KeyError, ValueError, TypeError, UnicodeDecodeError):
        raise CheckpointError(f"checkpoint '{path}' has a corrupt state.json", "use another checkpoint") from None


def complete(run_dir: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first (temporary and partial ones are ignored)."""
    root = run_dir / "checkpoints"
    if not root.is_dir():
        return []
    dirs = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted((p for p in dirs if all((p / n).is_file() for n in REQUIRED)), key=lambda p: int(p.name))


def clean_partial(run_dir: Path) -> None:
    """Remove temporary folders a crash left behind."""
    root = run_dir / "checkpoints"
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith("."):
                shutil.rmtree(p, ignore_errors=True)
