"""Protocols at the boundaries between layers, and small shared dataclasses."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Anything that maps a batch of observations to a batch of actions.

    An SB3 model satisfies it, and so will planners and cloned policies; evaluation, plots and
    videos see a policy only through this.
    """

    def predict(
        self,
        observation: np.ndarray,
        state: object = None,
        episode_start: object = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, object]: ...


@runtime_checkable
class ParamSampler(Protocol):
    """Draws simulator parameter vectors, one row per environment, in a ParamSpace's order."""

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...
