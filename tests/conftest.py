"""Suite-wide settings."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Small networks on a shared 2-core machine run 10-20x faster on one thread (as the CLI defaults to)."""
    import torch

    torch.set_num_threads(1)
    yield
