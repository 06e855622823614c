"""Videos of a policy: record episodes with their frames, annotate them, write MP4 and GIF files.

The library half of ``simrl record``. Episode ``i`` is reset with ``seed + i``, as
:func:`simrl.evaluation.evaluate.evaluate` seeds env ``i`` of an SB3 vec env, so a video shows the
episodes an evaluation scored (for the batched pendulum, episode 0 only: its batch draws every
start from one generator). The episodes run side by side in one vec env, stepped by
:mod:`simrl.data.rollout`. Files are written whole or not at all (``simrl.utils.atomic``).
"""

from __future__ import annotations

import functools
import io
import itertools
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from simrl.errors import ConfigError, EnvError
from simrl.evaluation.evaluate import EVAL_SEED
from simrl.types import Policy
from simrl.utils.atomic import write_bytes

if TYPE_CHECKING:
    from PIL import Image, ImageFont

DEFAULT_FPS = 30  # when an env's metadata has no render_fps
UNLIMITED_EPISODE_STEPS = 1_000  # cut for an env without a time limit: frames are held in memory
GIF_WIDTH = 192  # pixels; small enough for a README, the annotation still readable
GIF_MAX_FRAMES = 150
HOLD_FRAMES = 15  # the last frame of each group, repeated: half a second at 30 fps
MP4_QUALITY = 6.0  # imageio-ffmpeg's 1..10 scale; 6 is x264's crf 20
_GIF_MIN_DELAY_CS = 2  # browsers play GIF delays under 20 ms at 100 ms


@dataclass(frozen=True, eq=False)
class Episode:
    """One recorded episode.

    Attributes:
        frames: ``(length + 1, H, W, 3)`` uint8, read-only: the frame after reset, then one per step.
        ret: the undiscounted return.
        length: the number of steps.
        seed: the seed the episode was reset with.
        fps: the env's ``render_fps`` (``DEFAULT_FPS`` if it has none): the real-time frame rate.
    """

    frames: np.ndarray
    ret: float
    length: int
    seed: int
    fps: float


# --------------------------------------------------------------------------------------- recording


def record_episodes(
    policy: Policy,
    env_id: str,
    *,
    episodes: int = 1,
    params: Mapping[str, float] | None = None,
    seed: int = EVAL_SEED,
    deterministic: bool = True,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> list[Episode]:
    """Roll ``policy`` out for ``episodes`` episodes in one ``rgb_array`` env, keeping every frame.

    Args:
        policy: called as ``policy.predict(obs[None], deterministic=...)``; its first action is taken.
        env_id: a registered Gymnasium id.
        episodes: how many episodes; episode ``i`` is reset with ``seed + i``.
        params: simulator parameters by name (parametric envs only); the others keep their defaults.
        seed: the first episode's seed.
        deterministic: passed to ``predict``.
        max_steps: cut each episode after this many steps; ``None``: when the env ends it (an env
            without a time limit is cut at ``UNLIMITED_EPISODE_STEPS``).
        env_kwargs: further constructor arguments of the env (``reward="alive"``).

    Returns:
        One :class:`Episode` per episode, in seed order.

    Raises:
        EnvError: unknown id, unknown parameter or value out of bounds, an env that cannot render
            ``rgb_array`` frames.
        ConfigError: ``episodes`` or ``max_steps`` below 1.
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be at least 1, got {episodes}")
    if max_steps is not None and max_steps < 1:
        raise ConfigError(f"max_steps must be at least 1, got {max_steps}")
    from stable_baselines3.common.vec_env import DummyVecEnv

    from simrl.data import rollout
    from simrl.envs.vec import env_spec, make_render_env

    _probe(make_render_env(env_id, params, env_kwargs), env_id)  # an EnvError now for what cannot render
    time_limit = env_spec(env_id).max_episode_steps
    limit = max_steps or time_limit or UNLIMITED_EPISODE_STEPS
    recorders: list[_FirstEpisodeFrames] = []

    def make() -> gym.Env:
        recorders.append(_FirstEpisodeFrames(make_render_env(env_id, params, env_kwargs), env_id))
        return recorders[-1]

    venv = DummyVecEnv([make] * episodes)
    try:
        fps = float(venv.envs[0].metadata.get("render_fps") or DEFAULT_FPS)
        venv.seed(seed)  # episode i is reset with seed + i, as evaluate() seeds env i
        ran = rollout.episodes(policy, venv, deterministic=deterministic, max_steps=limit)
    finally:
        venv.close()
    out = []
    for i, rec in enumerate(recorders):
        stacked = np.stack(rec.frames[: int(ran.lengths[i]) + 1])
        stacked.flags.writeable = False
        out.append(
            Episode(frames=stacked, ret=float(ran.returns[i]), length=int(ran.lengths[i]), seed=seed + i, fps=fps)
        )
    return out


def _probe(env: gym.Env, env_id: str) -> None:
    """Render one frame of ``env`` and close it: an EnvError for an env that cannot render here.

    A renderer that fails for want of a graphics context (MuJoCo with no display and no
    ``MUJOCO_GL``) raises its own exception type; it becomes one line with the fix.
    """
    import warnings

    try:
        env.reset(seed=EVAL_SEED)
        try:
            with warnings.catch_warnings():  # glfw warns on stderr before the error says the same
                warnings.simplefilter("ignore")
                _render(env, env_id)
        except EnvError:
            raise
        except Exception as e:
            what = " ".join(str(e).split()) or "no message"
            raise EnvError(
                f"{env_id} could not render a frame here ({type(e).__name__}: {what})",
                "for MuJoCo without a display, set MUJOCO_GL=egl or MUJOCO_GL=osmesa",
            ) from None
    finally:
        env.close()


class _FirstEpisodeFrames(gym.Wrapper):
    """Keeps the frame after the first reset and one per step until that episode ends."""

    def __init__(self, env: gym.Env, env_id: str) -> None:
        super().__init__(env)
        self.env_id = env_id
        self.frames: list[np.ndarray] = []
        self.recording = False

    def reset(self, **kwargs: Any):
        out = self.env.reset(**kwargs)
        self.recording = not self.frames
        if self.recording:
            self.frames.append(_render(self.env, self.env_id))
        return out

    def step(self, action: Any):
        out = self.env.step(action)
        if self.recording:
            self.frames.append(_render(self.env, self.env_id))
            self.recording = not (out[2] or out[3])
        return out


def _render(env: gym.Env, env_id: str) -> np.ndarray:
    frame = env.render()
    if frame is None:
        raise EnvError(f"{env_id} cannot render rgb_array frames", "its render() returned None")
    frame = np.array(frame)  # a copy: some renderers hand back one buffer, redrawn each call
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise EnvError(f"{env_id} rendered a {frame.dtype} array of shape {frame.shape}, not an RGB image")
    return frame


# -------------------------------------------------------------------------------------- annotating


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled scalable font
    except (ImportError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


@functools.lru_cache(maxsize=64)
def _label(text: str, size: int) -> np.ndarray:
    """The text's coverage (0..1, float32) on its box, padding included; drawn once per episode, not per frame."""
    from PIL import Image, ImageDraw

    font, pad, spacing = _font(size), max(2, size // 4), size // 4
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox(
        (0, 0), text, font=font, spacing=spacing
    )
    mask = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad))
    ImageDraw.Draw(mask).multiline_text((pad - left, pad - top), text, fill=255, font=font, spacing=spacing)
    coverage = np.asarray(mask, dtype=np.float32)[..., None] / 255.0
    coverage.flags.writeable = False
    return coverage


def annotate(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """A copy of ``frame`` with ``lines`` in white on a translucent dark box at its top left.

    The text is a 20th of the frame's height (13 px on a 256 px frame, at least 10 px); only the
    box's pixels change (the box is cut at the frame's edge). Empty ``lines`` give an unchanged copy.
    """
    out = np.array(frame, dtype=np.uint8)
    text = "\n".join(lines)
    if not text.strip():
        return out
    size = max(10, round(out.shape[0] / 20))
    margin = max(2, size // 3)
    coverage = _label(text, size)
    box = out[margin : margin + coverage.shape[0], margin : margin + coverage.shape[1]]
    coverage = coverage[: box.shape[0], : box.shape[1]]
    # 60 % black behind, white text over it, blended by the glyphs' anti-aliased coverage.
    box[:] = (box * (0.4 * (1.0 - coverage)) + 255.0 * coverage + 0.5).astype(np.uint8)
    return out


def join(episode_groups: Sequence[tuple[str, Sequence[Episode]]], *, hold: int = HOLD_FRAMES) -> list[np.ndarray]:
    """One frame sequence from labelled groups of episodes, e.g. one group per checkpoint.

    Every frame is annotated with its group's label (if any) and its episode's return (and
    number, if the group has several); the last frame of each group is then shown ``hold`` more
    times, so a change of group is seen. The result has ``sum(len(e.frames)) + hold *
    (groups with episodes)`` frames; held frames are the same array, not copies.
    """
    out: list[np.ndarray] = []
    for label, episodes in episode_groups:
        for j, ep in enumerate(episodes):
            score = f"return {ep.ret:.1f}" + (f" (episode {j + 1}/{len(episodes)})" if len(episodes) > 1 else "")
            lines = [label, score] if label else [score]
            out.extend(annotate(frame, lines) for frame in ep.frames)
        if episodes:
            out.extend([out[-1]] * hold)
    return out


# ----------------------------------------------------------------------------------------- writing


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float, *, quality: float = MP4_QUALITY) -> Path:
    """Write every frame to an H.264 MP4 at ``fps``; streams, so frames may be a generator.

    Frames must all have one size; an odd width or height gets one more edge row or column (the
    yuv420p pixel format needs even sizes). Written through a temporary file and a rename.

    Returns:
        ``path``.

    Raises:
        ValueError: no frames, or frames of different sizes or not RGB uint8.
    """
    import imageio_ffmpeg

    path = Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError("no frames to write")
    shape = _check_frame(first, None)
    height, width = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2
    with tempfile.TemporaryDirectory(prefix="simrl-video-") as tmp:
        encoded = Path(tmp) / "video.mp4"
        writer = imageio_ffmpeg.write_frames(
            str(encoded),
            (width, height),
            fps=fps,
            codec="libx264",
            quality=quality,
            macro_block_size=1,  # sizes are made even here: no rescaling
            ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"],  # playable while it downloads
        )
        writer.send(None)
        try:
            for frame in itertools.chain([first], frames):
                _check_frame(frame, shape)
                if frame.shape[:2] != (height, width):
                    frame = np.pad(frame, ((0, height - shape[0]), (0, width - shape[1]), (0, 0)), mode="edge")
                writer.send(np.ascontiguousarray(frame))
        finally:
            writer.close()
        data = encoded.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)
    return path


def write_gif(
    frames: Sequence[np.ndarray] | np.ndarray,
    path: str | Path,
    fps: float,
    *,
    width: int = GIF_WIDTH,
    max_frames: int = GIF_MAX_FRAMES,
) -> Path:
    """Write a small looping GIF that plays at the real speed of ``frames`` shown at ``fps``.

    Frames are scaled down to ``width`` pixels (never up) and every ``k``-th one is kept, ``k``
    the smallest step that keeps at most ``max_frames`` and a delay of at least 20 ms (browsers
    slow shorter delays down). Delays are whole hundredths of a second, as GIF stores them,
    chosen so the total time is right. Written through a temporary file and a rename.

    Returns:
        ``path``.

    Raises:
        ValueError: no frames, ``max_frames`` or ``width`` below 1, frames not RGB uint8.
    """
    from PIL import Image

    if len(frames) == 0:
        raise ValueError("no frames to write")
    if max_frames < 1 or width < 1:
        raise ValueError(f"max_frames and width must be at least 1, got {max_frames} and {width}")
    step = max(math.ceil(len(frames) / max_frames), math.ceil(fps * _GIF_MIN_DELAY_CS / 100))
    kept = frames[::step]
    shape = _check_frame(kept[0], None)
    size = (width, max(1, round(shape[0] * width / shape[1]))) if shape[1] > width else (shape[1], shape[0])
    images = []
    for frame in kept:
        _check_frame(frame, shape)
        image = Image.fromarray(np.ascontiguousarray(frame))
        images.append(image.resize(size, Image.Resampling.LANCZOS) if image.size != size else image)
    # Frame k starts at k * step / fps seconds; rounding those times (not each delay) keeps the total right.
    starts = [round(k * step * 100 / fps) for k in range(len(images) + 1)]
    delays = [max(_GIF_MIN_DELAY_CS, b - a) * 10 for a, b in itertools.pairwise(starts)]  # ms
    images = _shared_palette(images)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=delays, loop=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buf.getvalue())
    return path


def _shared_palette(images: list[Image.Image]) -> list[Image.Image]:
    """The images in one palette drawn from up to 16 of them, undithered.

    One palette is 10x faster than Pillow's per-frame ones and 3x smaller (no colour table per
    frame, no dither noise that differs from frame to frame); colours that no sampled frame has
    are mapped to the nearest, which for rendered scenes is the rare cost.
    """
    from PIL import Image

    sample = images[:: max(1, len(images) // 16)]
    montage = Image.new("RGB", (sample[0].width, sample[0].height * len(sample)))
    for i, image in enumerate(sample):
        montage.paste(image, (0, i * image.height))
    palette = montage.quantize(256, dither=Image.Dither.NONE)
    return [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]


def _check_frame(frame: np.ndarray, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    """``frame``'s shape, if it is an RGB uint8 image (of ``shape``, if given)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise ValueError(f"frames must be (H, W, 3) uint8 arrays, got {got}")
    if shape is not None and frame.shape != shape:
        raise ValueError(f"frames must all have one size, got {frame.shape} after {shape}")
    return frame.shape
