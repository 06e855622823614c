"""Protocols at the boundaries between layers, and small shared dataclasses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Anything that maps a batch of observations to a batch of actions.

    An SB3 model satisfies it, and so do planners and cloned policies; evaluation, plots and
    videos see a policy only through this.

    Episode boundaries: ``episode_start`` is a bool array with one entry per env, True for the envs
    whose episode has just started (every env on the first call). A policy that carries memory from
    step to step (a planner's warm start, a recurrent state) forgets what it held for those envs;
    ``state`` is handed back on the next call, as SB3's recurrent policies do. A memoryless policy
    ignores both.
    """

    def predict(
        self,
        observation: np.ndarray,
        state: object = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, object]: ...


@runtime_checkable
class ParamSampler(Protocol):
    """Draws simulator parameter vectors, one row per environment, in a ParamSpace's order."""

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray: ...


StepCallback = Callable[[int], bool]
"""Called by a trainer with its step count where its policy has just been updated; False stops it."""


@runtime_checkable
class Trainer(Protocol):
    """A learner that a run folder drives (``simrl.experiments.training``).

    The run folder decides when to stop, evaluate and checkpoint; the trainer learns, and declares
    its own state the way SB3's ``_get_torch_save_params`` does: ``state_files`` names every file
    ``save`` writes into a checkpoint folder, and ``restore`` reads them back so that training then
    continues exactly as if it had never stopped. The run folder never guesses what to save.
    """

    kind: str
    """The registry key of the learner family (``sb3``): config.yaml records it, readers look it up."""
    policy_file: str
    """The file name of a saved policy (``model.zip``); the run's best one is ``best_<policy_file>``."""

    @property
    def num_timesteps(self) -> int:
        """Environment steps taken so far."""
        ...

    @property
    def step_unit(self) -> int:
        """Steps of one uninterrupted unit of collection: checkpoints fall on multiples of it."""
        ...

    def set_total_timesteps(self, total: int) -> None:
        """The run's total (rounded to whole units), for schedules over the whole run, not a segment."""
        ...

    def learn(self, until: int, callback: StepCallback) -> None:
        """Train until ``num_timesteps >= until``, or until ``callback`` returns False."""
        ...

    def state_files(self) -> tuple[str, ...]:
        """The names of the files ``save`` writes (weights, optimisers, buffers, random states...)."""
        ...

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the files of ``state_files`` into ``folder``; return the small plain state (generator
        states, counters) that the run folder keeps for it in the checkpoint's state.json."""
        ...

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        """Load what ``save`` wrote into ``folder`` and returned as ``state``; raise CheckpointError
        (before changing anything it cannot undo) when it does not fit."""
        ...

    def policy(self) -> Policy:
        """The current policy (acting with it must not change the trainer's state)."""
        ...

    def save_policy(self, path: Path) -> None:
        """Write the current policy to ``path`` (a file ``load_policy`` of the same kind reads)."""
        ...

    def set_logger(self, logger: Any) -> None:
        """An SB3 ``Logger`` writing the run's progress.csv and TensorBoard files."""
        ...

    def close(self) -> None:
        """Release envs and other resources."""
        ...
