"""Reading run folders into arrays: what ``simrl report`` and ``simrl compare`` work from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import ConfigError, SimrlError
from simrl.experiments.config import TrainConfig


@dataclass(frozen=True)
class CheckpointEval:
    pct: int
    step: int
    returns: np.ndarray
    info: dict[str, np.ndarray] = field(default_factory=dict)  # reward_* terms and metric_* measures, per episode


@dataclass(frozen=True)
class RunData:
    """A run folder's configuration, metadata and evaluations."""

    dir: Path
    config: TrainConfig
    meta: dict[str, Any]
    timesteps: np.ndarray  # (k,)
    results: np.ndarray  # (k, episodes)
    random: np.ndarray  # (episodes,)
    checkpoints: tuple[CheckpointEval, ...]
    info: dict[str, np.ndarray] = field(default_factory=dict)  # key -> (k, episodes): reward_* and metric_*
    random_info: dict[str, np.ndarray] = field(default_factory=dict)  # key -> (episodes,), the random policy's

    @property
    def final(self) -> np.ndarray:
        """Returns of the last evaluation (the final policy's)."""
        return self.results[-1]

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def final_info(self) -> dict[str, float]:
        """The final evaluation's mean over episodes of each ``reward_*`` term and ``metric_*`` measure."""
        return info_means({k: v[-1] for k, v in self.info.items()})


def info_means(info: dict[str, np.ndarray]) -> dict[str, float]:
    """Each info key's mean over episodes (keys an evaluation lacked, all NaN, left out)."""
    return {k: float(np.nanmean(v)) for k, v in info.items() if np.isfinite(v).any()}


def load_run(run_dir: Path) -> RunData:
    """Read a run folder of any kind.

    Raises:
        CheckpointError: not a run folder, or corrupt files.
        SimrlError: a run with no evaluation yet.
    """
    from simrl.experiments.runfolder import RunFolder

    folder = RunFolder.open(run_dir)
    config, meta = TrainConfig.from_dict(folder.read_config()), folder.read_meta()
    evals = folder.load_evals()
    if not evals.timesteps:
        raise SimrlError(f"run '{run_dir}' has no evaluations yet", "wait for its first evaluation or checkpoint")
    random = folder.read_baseline()
    cps = [CheckpointEval(cp.pct, cp.step, ev.returns, dict(ev.info)) for cp, ev in folder.checkpoint_evals()]
    results = np.array(evals.results, dtype=np.float64).reshape(len(evals.timesteps), -1)
    return RunData(
        run_dir,
        config,
        meta,
        np.array(evals.timesteps, dtype=np.int64),
        results,
        random.returns,
        tuple(cps),
        {k: np.array(v, dtype=np.float64).reshape(results.shape) for k, v in evals.info.items()},
        dict(random.info),
    )


def config_value(run: RunData, key: str) -> str:
    """The value of a config key (dotted for nested ones: ``hyperparams.gamma``) as a label.

    An env kwarg or parameter a run did not set reads ``default`` (``env_kwargs.reward`` of a run that
    kept the env's default reward), so runs with and without it fall into two groups.
    """
    node: Any = run.config.to_dict()
    head, _, name = key.partition(".")
    if head in ("env_kwargs", "env_params") and name and "." not in name and name not in node[head]:
        return "default"
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(run.config.to_dict()))
            raise ConfigError(
                f"--group-by '{key}' is not a configuration key of '{run.dir}'",
                f"top-level keys: {known}; nested ones with dots, e.g. hyperparams.gamma",
            )
        node = node[part]
    if isinstance(node, dict):
        return ",".join(f"{k}={v}" for k, v in sorted(node.items())) or "none"
    return str(node)


def group_runs(runs: list[RunData], keys: list[str] | None = None) -> dict[str, list[RunData]]:
    """Runs grouped by the values of ``keys`` (default: algo and env id), in first-seen order.

    Labels read ``sac simrl/Pendulum-v0`` for the default, ``key=value ...`` for chosen keys.
    """
    groups: dict[str, list[RunData]] = {}
    for run in runs:
        if keys is None:
            label = f"{run.config.algo} {run.config.env_id}"
        else:
            label = " ".join(f"{k}={config_value(run, k)}" for k in keys)
        groups.setdefault(label, []).append(run)
    return groups


def write_json(path: Path, obj: Any) -> None:
    from simrl.utils import atomic

    atomic.write_text(path, json.dumps(obj, indent=2) + "\n")
