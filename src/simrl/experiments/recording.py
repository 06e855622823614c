"""``simrl record``: videos of a run's policies (one checkpoint, the best, or every checkpoint in turn)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.experiments.targets import resolve_target


@dataclass(frozen=True)
class Recording:
    mp4: Path
    gif: Path
    frames: int
    returns: dict[str, list[float]]


def _which_models(target: Path, checkpoint: str) -> list[tuple[str, str]]:
    """(label, which) pairs to record: ``which`` as :func:`resolve_model_path` understands it."""
    from simrl.experiments.runfolder import RunFolder

    if not target.is_dir():
        return [(target.stem, "best")]
    if checkpoint == "all":
        cps = RunFolder.open(target).checkpoints()
        if not cps:
            from simrl.errors import CheckpointError

            raise CheckpointError(f"run '{target}' has no checkpoints yet")
        return [(f"checkpoint {int(p.name)}%", p.name) for p in cps]
    if checkpoint in ("best", "final"):
        return [(f"{checkpoint} model", checkpoint)]
    try:
        return [(f"checkpoint {int(checkpoint)}%", checkpoint)]
    except ValueError:
        raise ConfigError(f"--checkpoint must be a percentage, best, final or all, got '{checkpoint}'") from None


def default_output(target: Path, checkpoint: str) -> Path:
    if target.is_dir():
        return target / "videos" / f"{checkpoint}.mp4"
    return target.with_suffix(".mp4")


def record(
    target: Path,
    *,
    checkpoint: str = "best",
    episodes: int = 1,
    out: Path | None = None,
    env_id: str | None = None,
    env_params: dict[str, Any] | None = None,
    device: str = "cpu",
    env_kwargs: dict[str, Any] | None = None,
) -> Recording:
    """Record ``episodes`` deterministic episodes of each selected policy into one mp4 and one gif.

    Every frame carries the policy's label and the episode's return, so with ``checkpoint="all"``
    training progress can be watched in one file. ``env_kwargs`` override the run's env kwargs.
    """
    from simrl.evaluation import video

    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    out = out or default_output(target, checkpoint)
    if out.suffix.lower() != ".mp4" or out.is_dir():
        raise ConfigError(f"--out must name an .mp4 file, got '{out}'", "the gif is written beside it")
    from simrl.experiments.config import check_out_dir

    check_out_dir(out.parent, "--out")
    groups = []
    for label, which in _which_models(target, checkpoint):
        t = resolve_target(
            target, env_id=env_id, env_params=env_params, env_kwargs=env_kwargs, which=which, device=device
        )
        episodes_ = video.record_episodes(
            t.model, t.env_id, episodes=episodes, params=t.params, env_kwargs=t.env_kwargs
        )
        groups.append((label, episodes_))
    frames = video.join(groups)
    fps = groups[0][1][0].fps
    out.parent.mkdir(parents=True, exist_ok=True)
    video.write_mp4(frames, out, fps)
    # More frames for a multi-checkpoint gif, so each checkpoint still moves smoothly.
    gif = video.write_gif(frames, out.with_suffix(".gif"), fps, max_frames=video.GIF_MAX_FRAMES * min(len(groups), 3))
    return Recording(out, gif, len(frames), {label: [e.ret for e in eps] for label, eps in groups})
