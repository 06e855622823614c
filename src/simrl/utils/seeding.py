"""Capture and restore the random states SB3 reads from global generators.

Library code draws from explicit generators; SB3 itself samples replay batches, minibatch
permutations and exploration noise from numpy's, torch's and Python's global generators, so
exact resume needs those states saved beside a checkpoint.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def derive_seed(*keys: int) -> int:
    """A 31-bit seed derived from integer keys (a run seed, a segment index, ...)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0] & 0x7FFFFFFF)


def global_rng_state() -> dict[str, Any]:
    """The states of Python's, numpy's and torch's global generators, JSON-serialisable."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": _tuples_to_lists(random.getstate()),
        "numpy": {
            "kind": kind,
            "keys": [int(k) for k in keys],
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": [int(b) for b in torch.get_rng_state().tolist()],
    }


def set_global_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`global_rng_state` captured."""
    random.setstate(_lists_to_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], np.array(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def set_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state


def _tuples_to_lists(x: Any) -> Any:
    return [_tuples_to_lists(v) for v in x] if isinstance(x, tuple | list) else x


def _lists_to_tuples(x: Any) -> Any:
    return tuple(_lists_to_tuples(v) for v in x) if isinstance(x, list) else x
