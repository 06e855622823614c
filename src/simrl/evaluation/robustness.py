"""Robustness over simulator parameters: a policy evaluated on every cell of a 1-D or 2-D grid.

Every cell uses the same episode seeds as :func:`simrl.evaluation.evaluate.evaluate` (common random
numbers), so differences between cells come from the parameters, not from the starting states, and
the cell at the nominal parameters reproduces ``simrl eval``. For the pendulum the whole grid runs
as one batched env: one numpy call per step for all cells and episodes.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simrl.data import rollout
from simrl.envs.vec import batched_class, param_space
from simrl.evaluation.evaluate import EVAL_SEED, MAX_EVAL_STEPS, evaluate
from simrl.types import Policy
from simrl.utils import atomic


@dataclass(frozen=True)
class Axis:
    """One grid dimension: a parameter and the values it takes."""

    name: str
    values: np.ndarray


@dataclass(frozen=True)
class GridResult:
    """Returns per cell: ``returns[i, j, k]`` is episode k in the cell (axes[0][i], axes[1][j])."""

    axes: tuple[Axis, ...]
    returns: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        return self.returns.mean(axis=-1)

    @property
    def std(self) -> np.ndarray:
        return self.returns.std(axis=-1)

    def to_csv(self, path: str | Path) -> None:
        """One row per cell: the parameter values, mean, std, IQM and the episode count."""
        from simrl.evaluation.stats import iqm

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*(a.name for a in self.axes), "mean", "std", "iqm", "episodes"])
        for idx in itertools.product(*(range(len(a.values)) for a in self.axes)):
            r = self.returns[idx]
            w.writerow(
                [
                    *(f"{a.values[i]:.6g}" for a, i in zip(self.axes, idx, strict=True)),
                    f"{r.mean():.4f}",
                    f"{r.std():.4f}",
                    f"{float(iqm(r)):.4f}",
                    len(r),
                ]
            )
        atomic.write_text(path, buf.getvalue())


def grid_cells(axes: Sequence[Axis]) -> list[dict[str, float]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    return [
        dict(zip((a.name for a in axes), vals, strict=True))
        for vals in itertools.product(*(a.values.tolist() for a in axes))
    ]


def evaluate_grid(
    policy: Policy,
    env_id: str,
    axes: Sequence[Axis],
    episodes: int,
    *,
    params: Mapping[str, float] | None = None,
    seed: int = EVAL_SEED,
    env_kwargs: Mapping[str, Any] | None = None,
) -> GridResult:
    """Evaluate ``policy`` for ``episodes`` deterministic episodes on every cell of the grid.

    ``params`` fixes the parameters the grid does not vary (defaults otherwise); ``env_kwargs`` are
    further constructor arguments of every cell's env (the batched pendulum takes none).

    Raises:
        EnvError: an unknown parameter or a grid value outside the parameter's bounds, env kwargs the
            env does not take.
    """
    space = param_space(env_id)
    base = dict(params or {})
    cells = [space.make({**base, **cell}) for cell in grid_cells(axes)]  # checks names and bounds
    shape = tuple(len(a.values) for a in axes)
    batched = batched_class(env_id)
    if batched is not None and not env_kwargs:
        returns = _batched(batched, policy, np.stack([c.vector for c in cells]), episodes, seed)
    else:  # (env kwargs for a batched env are refused by make_vec_env)
        returns = np.stack(
            [
                evaluate(policy, env_id, episodes, params=dict(c), seed=seed, env_kwargs=env_kwargs).returns
                for c in cells
            ]
        )
    return GridResult(tuple(axes), returns.reshape(*shape, episodes))


def _batched(batched: type, policy: Policy, cells: np.ndarray, episodes: int, seed: int) -> np.ndarray:
    """All cells x episodes copies in one batched env, from evaluate()'s starting states."""
    probe = batched(episodes)
    probe.seed(seed)
    probe.reset()
    start = probe.state  # the starting states evaluate() sees for this seed, one row per episode
    n = len(cells) * episodes
    venv = batched(n, max_episode_steps=probe.max_episode_steps)
    venv.reset()
    venv.set_params(np.repeat(cells, episodes, axis=0))
    obs = venv.set_state(*np.tile(start, (len(cells), 1)).T)
    ran = rollout.episodes(policy, venv, obs=obs, max_steps=MAX_EVAL_STEPS)
    return ran.returns.reshape(len(cells), episodes)
