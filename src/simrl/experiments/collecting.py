"""``simrl collect``: record a policy's demonstrations (``simrl.data.demos``) into one npz file.

The target is resolved exactly as ``simrl eval`` resolves it (a run folder or a policy file of any
learner kind, the env with the run's parameters and evaluation env kwargs unless overridden), and
the episodes run as eval runs its own, so ``--seed`` set to eval's seed repeats eval's episodes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simrl.data.demos import Demos, Source, check_noise
from simrl.errors import ConfigError

DEFAULT_SEED = 0
"""Demonstrations start from other states than the evaluations (``EVAL_SEED`` onwards), so that a
policy cloned from them is judged on states it was not shown."""


def check_out_file(out: Path, force: bool) -> Path:
    """``--out``: an .npz path whose folder is, or can become, a folder; an existing file only with ``force``.

    Raises:
        ConfigError: another suffix, a folder, an existing file without ``force``, a parent that is a file.
    """
    from simrl.experiments.config import check_out_dir

    if out.suffix.lower() != ".npz":
        raise ConfigError(f"--out must name an .npz file, got '{out}'")
    if out.is_dir():
        raise ConfigError(f"--out '{out}' is a folder", "name the .npz file to write")
    check_out_dir(out.parent, "--out")
    if out.exists() and not force:
        raise ConfigError(f"--out '{out}' exists", "pass --force to replace it")
    return out


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """SB3 samples stochastic actions from torch's global generator: seed it (and numpy's, Python's) for
    the collection, and give the caller its own states back afterwards."""
    from stable_baselines3.common.utils import set_random_seed

    from simrl.utils.seeding import global_rng_state, set_global_rng_state

    saved = global_rng_state()
    set_random_seed(seed)
    try:
        yield
    finally:
        set_global_rng_state(saved)


def collect(
    target: Path,
    *,
    episodes: int,
    out: Path,
    seed: int = DEFAULT_SEED,
    deterministic: bool = True,
    noise: float = 0.0,
    force: bool = False,
    env_id: str | None = None,
    env_params: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    which: str = "best",
    algo: str | None = None,
    device: str = "cpu",
) -> Demos:
    """Record ``episodes`` whole episodes of the target's policy and write them to ``out`` (its folder
    made if missing). Every argument is checked before the policy is loaded; nothing is written on error.

    Raises:
        ConfigError, CheckpointError, EnvError: as :func:`check_out_file` and ``resolve_target`` raise them.
    """
    from simrl.data.demos import collect as collect_demos
    from simrl.experiments.targets import resolve_target

    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    if seed < 0:
        raise ConfigError(f"--seed must be non-negative, got {seed}")
    check_noise(noise)
    if seed + episodes > 2**31:  # env i is seeded seed + i, as train draws seeds: below 2**31
        raise ConfigError(f"--seed {seed} is too large", "seed + episodes must not exceed 2**31")
    out = check_out_file(Path(out), force)
    t = resolve_target(
        Path(target),
        env_id=env_id,
        env_params=env_params,
        env_kwargs=env_kwargs,
        episodes=episodes,
        which=which,
        algo=algo,
        device=device,
    )
    source = Source(path=str(t.model_path.resolve()), kind=t.kind, algo=t.algo)
    with _seeded(seed):
        demos = collect_demos(
            t.model,
            t.env_id,
            episodes,
            source=source,
            seed=seed,
            deterministic=deterministic,
            noise=noise,
            params=t.params,
            env_kwargs=t.env_kwargs,
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    demos.save(out)
    return demos
