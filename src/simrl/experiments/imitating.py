"""An imitation run's demonstrations from ``--expert``: checked against the run's env, then collected.

:func:`start`, what ``simrl train``, ``tune`` and ``confirm`` create runs with, collects them before the run
folder exists: the expert (a run folder or a policy file of any kind) must act in the run's action space and
observe its observation shape; its ``demo_episodes`` deterministic episodes (10 by default) are then recorded
in the run's env (its parameters and env kwargs) from ``simrl collect``'s seed, so they are the episodes
``simrl collect EXPERT --episodes N`` records there. The run copies them into its folder as demos.npz. A
learner that queries its expert while it trains (``dagger``) also gets the expert's policy file (a run
folder's best one), which the run copies into its folder, and starts from ``--demos`` instead when given.
Apart from the kind (``imitation_kind.py``) because it resolves targets, which the kind registry must not
import.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import CheckpointError, ConfigError
from simrl.experiments.config import TrainConfig

EXPERT_EPISODES = 10
"""Episodes collected from ``--expert`` when ``--demo-episodes`` is not given."""
DEMOS = "demos.npz"


def start(config: TrainConfig, out: Path, name: str | None, command: str) -> Any:
    """``experiments.training.start`` (a new run folder, its Run returned) after collecting ``config``'s expert's
    demonstrations, which the run keeps in its folder as demos.npz."""
    from simrl.experiments.training import start as start_run

    with with_expert_demos(config) as given:
        return start_run(given, out, name, command)


@contextlib.contextmanager
def with_expert_demos(config: TrainConfig) -> Iterator[TrainConfig]:
    """``config`` with its expert's demonstrations collected (:func:`collect_expert_demos`) into a temporary
    folder that lasts as long as the block (a run copies them into its own); without an expert, ``config``."""
    if config.expert is None:
        yield config
        return
    with tempfile.TemporaryDirectory(prefix="simrl-demos-") as scratch:
        yield collect_expert_demos(config, Path(scratch))


def collect_expert_demos(config: TrainConfig, scratch: Path) -> TrainConfig:
    """The config whose ``demos`` are the expert's, collected into ``scratch`` (unchanged without an expert),
    and, for a learner that queries its expert, whose ``expert_policy`` is the expert's policy file (the
    demonstrations then collected only when ``demos`` is not given).

    Raises:
        ConfigError: an expert of another action space or observation shape.
        CheckpointError: an expert that is missing or cannot be loaded.
    """
    if config.expert is None:
        return config
    from simrl.data.demos import Source, collect
    from simrl.experiments.collecting import DEFAULT_SEED
    from simrl.experiments.kinds import get_kind, queries_expert
    from simrl.experiments.targets import resolve_target

    expert = Path(config.expert)
    check_expert(expert, config)
    t = resolve_target(expert, env_id=config.env_id, env_params=config.env_params, env_kwargs=config.env_kwargs)
    if queries_expert(get_kind(config.kind), config.algo):
        config = dataclasses.replace(config, expert_policy=str(t.model_path.resolve()))
        if config.demos is not None:
            return config
    episodes = config.demo_episodes or EXPERT_EPISODES
    demos = collect(
        t.model,
        config.env_id,
        episodes,
        source=Source(path=str(t.model_path.resolve()), kind=t.kind, algo=t.algo),
        seed=DEFAULT_SEED,
        deterministic=True,
        params=config.env_params,
        env_kwargs=config.env_kwargs,
    )
    demos.save(scratch / DEMOS)
    return dataclasses.replace(config, demos=str(scratch / DEMOS), demo_episodes=episodes)


def check_expert(expert: Path, config: TrainConfig) -> None:
    """ConfigError when the expert's own env acts in another action space or observes another shape.

    The expert's env is its run's, or the one its policy file records; a plain SB3 zip records none and
    is taken to be of the run's env (loading its weights then checks their shapes).
    """
    from simrl.envs.vec import make_env
    from simrl.experiments.kinds import kind_of_file
    from simrl.experiments.runfolder import RunFolder

    if expert.is_dir():
        run = TrainConfig.from_dict(RunFolder.open(expert).read_config())
        env_id, kwargs, params = run.env_id, run.env_kwargs, run.env_params
    elif expert.is_file():
        _, info = kind_of_file(expert)
        env_id, kwargs, params = info.get("env_id"), info.get("env_kwargs") or {}, info.get("env_params") or {}
    else:
        raise CheckpointError(
            f"train {config.algo}: expert '{expert}' does not exist", "give a run folder or a policy file"
        )
    if env_id is None:
        return
    spaces = []
    for eid, kw, p in ((env_id, kwargs, params), (config.env_id, config.env_kwargs, config.env_params)):
        env = make_env(eid, p, kw)
        spaces.append((env.observation_space, env.action_space))
        env.close()
    (obs_e, act_e), (obs_r, act_r) = spaces
    hint = "clone an expert of the same task"
    if not _same_space(act_e, act_r):
        raise ConfigError(
            f"train {config.algo}: expert '{expert}' acts in {act_e} ({env_id}); {config.env_id} takes {act_r}", hint
        )
    if obs_e.shape != obs_r.shape:
        raise ConfigError(
            f"train {config.algo}: expert '{expert}' observes shape {obs_e.shape} ({env_id}); "
            f"{config.env_id} gives {obs_r.shape}",
            hint,
        )


def _same_space(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or a.shape != b.shape:
        return False
    return not hasattr(a, "low") or (np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high))
