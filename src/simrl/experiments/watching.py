"""``simrl watch``: a run's policy (or a policy file's) playing live in the env's window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from simrl.evaluation.evaluate import EVAL_SEED
from simrl.experiments.recording import which_models
from simrl.experiments.targets import resolve_target


def watch(
    target: Path,
    *,
    checkpoint: str = "best",
    episodes: int | None = None,
    env_id: str | None = None,
    env_params: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    deterministic: bool = True,
    seed: int = EVAL_SEED,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, list[float]]:
    """Show ``episodes`` episodes of the selected policy (each checkpoint in turn for ``all``) in a window.

    ``episodes=None`` plays until the window is closed (one episode per checkpoint for ``all``).
    Whether a window can open is checked first, from the env id alone, before any policy is loaded.
    Logs one line per finished episode; Ctrl-C (:class:`~simrl.errors.Interrupted`) closes the window
    on its way out.

    Returns:
        Each policy's episode returns, by label.

    Raises:
        EnvError: no display, no ``human`` render mode, and as :func:`resolve_target` raises.
        CheckpointError, ConfigError: as :func:`resolve_target` and :func:`which_models` raise them.
    """
    from simrl.errors import ConfigError
    from simrl.evaluation.live import LiveWindow, check_window

    if episodes is not None and episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    models = which_models(target, checkpoint)
    known = _env_id(target, env_id)
    if known is not None:
        check_window(known)
    if episodes is None and len(models) > 1:
        episodes = 1
    settings = dict(env_id=env_id, env_params=env_params, env_kwargs=env_kwargs, device=device)
    first = resolve_target(target, which=models[0][1], **settings)
    returns: dict[str, list[float]] = {}
    with LiveWindow(first.env_id, params=first.params, env_kwargs=first.env_kwargs) as window:
        log(f"watching {first.env_id} at {window.fps:g} frames per second; close the window or press Ctrl-C to stop")
        for i, (label, which) in enumerate(models):
            t = first if i == 0 else resolve_target(target, which=which, **settings)

            def done(k: int, ret: float, length: int, label: str = label) -> None:
                log(f"{label}: episode {k + 1}: return {ret:.1f} in {length} steps")

            returns[label] = window.play(
                t.model, episodes=episodes, seed=seed, deterministic=deterministic, on_episode=done
            )
            if episodes is not None and len(returns[label]) < episodes:
                break  # the window was closed
    return returns


def _env_id(target: Path, env_id: str | None) -> str | None:
    """The env a target will meet, read without loading the policy (None: resolve_target will say why not)."""
    if env_id:
        return env_id
    if target.is_dir():
        from simrl.experiments.training import load_run_config

        return load_run_config(target)[0].env_id
    if target.is_file():
        from simrl.experiments.kinds import kind_of_file

        found = kind_of_file(target)[1].get("env_id")
        return found if isinstance(found, str) else None
    return None
