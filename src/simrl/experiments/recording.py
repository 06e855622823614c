"""``simrl record``: videos of a run's policies (one checkpoint, the best, or every checkpoint).

Where the videos of a run folder live: ``videos/<name>.mp4`` with ``videos/<name>.gif`` beside it,
``<name>`` the checkpoint's folder name (``025``, as its plots ``plots/boxplot_025.png``), ``best``,
``final`` or ``all`` (every checkpoint in turn, in one file). Checkpoint folders hold only what
training wrote, so videos, like plots, can be deleted and made again without touching the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.experiments.targets import resolve_target


@dataclass(frozen=True)
class Recording:
    """What :func:`record` wrote.

    Attributes:
        mp4, gif: the video of every selected policy (in turn, with ``checkpoint="all"``).
        frames: the mp4's frame count.
        returns: each policy's episode returns, by label.
        checkpoints: with ``checkpoint="all"`` on a run folder, each checkpoint's own (mp4, gif),
            by percentage; empty otherwise.
    """

    mp4: Path
    gif: Path
    frames: int
    returns: dict[str, list[float]]
    checkpoints: dict[int, tuple[Path, Path]]


def which_models(target: Path, checkpoint: str) -> list[tuple[str, str]]:
    """(label, which) pairs to load: ``which`` as :func:`resolve_model_path` understands it.

    Raises:
        ConfigError: ``checkpoint`` is none of a percentage, best, final and all.
        CheckpointError: ``all`` for a run with no checkpoint yet.
    """
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


def video_name(checkpoint: str) -> str:
    """The file stem of a run's video: ``025`` for checkpoint ``25``, else ``checkpoint`` itself."""
    return f"{int(checkpoint):03d}" if checkpoint.isdigit() else checkpoint


def checkpoint_video(run_dir: Path, pct: int) -> Path | None:
    """The video of checkpoint ``pct`` a page should show, if one was recorded: the gif, else the mp4."""
    for suffix in (".gif", ".mp4"):
        path = run_dir / "videos" / f"{pct:03d}{suffix}"
        if path.is_file():
            return path
    return None


def default_output(target: Path, checkpoint: str) -> Path:
    if target.is_dir():
        return target / "videos" / f"{video_name(checkpoint)}.mp4"
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
    training progress can be watched in one file; each checkpoint's own ``NNN.mp4`` and ``NNN.gif``
    are then written beside it too (what ``simrl report --video`` shows). ``env_kwargs`` override
    the run's env kwargs.

    Raises:
        ConfigError: ``episodes`` below 1, an ``out`` that is not an .mp4 path.
        CheckpointError, EnvError: as :func:`resolve_target` and :func:`video.record_episodes` raise them
            (an env that cannot render ``rgb_array`` frames is an EnvError, before anything is written).
    """
    from simrl.evaluation import video

    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    out = out or default_output(target, checkpoint)
    if out.suffix.lower() != ".mp4" or out.is_dir():
        raise ConfigError(f"--out must name an .mp4 file, got '{out}'", "the gif is written beside it")
    from simrl.experiments.config import check_out_dir

    check_out_dir(out.parent, "--out")
    groups = _record_groups(target, which_models(target, checkpoint), episodes, env_id, env_params, env_kwargs, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    singles: dict[int, tuple[Path, Path]] = {}
    if checkpoint == "all" and target.is_dir():
        for label, which, episodes_ in groups:
            singles[int(which)] = _write(video, [(label, episodes_)], out.parent / f"{video_name(which)}.mp4")[:2]
    mp4, gif, frames = _write(video, [(label, eps) for label, _, eps in groups], out)
    return Recording(mp4, gif, frames, {label: [e.ret for e in eps] for label, _, eps in groups}, singles)


def record_checkpoints(run_dir: Path, *, episodes: int = 1, device: str = "cpu") -> dict[int, tuple[Path, Path]]:
    """Each checkpoint's own ``videos/NNN.mp4`` and ``.gif`` (what ``simrl report --video`` shows), by percentage.

    The files ``simrl record RUN --checkpoint all`` writes beside its joined video, without that video.

    Raises:
        CheckpointError: not a run folder, or one with no checkpoint yet.
        EnvError: an env that cannot render ``rgb_array`` frames (nothing is written).
    """
    from simrl.evaluation import video

    groups = _record_groups(run_dir, which_models(run_dir, "all"), episodes, None, None, None, device)
    return {
        int(which): _write(video, [(label, eps)], run_dir / "videos" / f"{video_name(which)}.mp4")[:2]
        for label, which, eps in groups
    }


def _record_groups(
    target: Path,
    models: list[tuple[str, str]],
    episodes: int,
    env_id: str | None,
    env_params: dict[str, Any] | None,
    env_kwargs: dict[str, Any] | None,
    device: str,
) -> list[tuple[str, str, list[Any]]]:
    """(label, which, recorded episodes) for each model: everything is recorded before any file is written."""
    from simrl.evaluation import video

    groups = []
    for label, which in models:
        t = resolve_target(
            target, env_id=env_id, env_params=env_params, env_kwargs=env_kwargs, which=which, device=device
        )
        recorded = video.record_episodes(t.model, t.env_id, episodes=episodes, params=t.params, env_kwargs=t.env_kwargs)
        groups.append((label, which, recorded))
    return groups


def _write(video: Any, groups: list[tuple[str, list[Any]]], mp4: Path) -> tuple[Path, Path, int]:
    """``mp4`` and the gif beside it, of labelled groups of episodes shown in turn."""
    frames = video.join(groups)
    fps = groups[0][1][0].fps
    video.write_mp4(frames, mp4, fps)
    # More frames for a multi-checkpoint gif, so each checkpoint still moves smoothly.
    gif = video.write_gif(frames, mp4.with_suffix(".gif"), fps, max_frames=video.GIF_MAX_FRAMES * min(len(groups), 3))
    return mp4, gif, len(frames)
