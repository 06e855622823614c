"""Play a task yourself: drive any env with a Box action space from the keyboard, to feel how hard it is.

``simrl play ENV_ID`` (or :func:`play`) opens a window with the env's frames and a panel under them
(step, episode return, the action being sent, the last episode's return, the keys).

Keys
----
- Each action dimension has a pair of keys. Holding the first sets that dimension to the action
  space's high, holding the second sets it to its low; neither (or both) sets it to 0, or to the
  middle of [low, high] when 0 lies outside.
- An env may declare its pairs as a class attribute ``KEYS``: one ``(plus, minus)`` pair of pygame key
  names (what ``pygame.key.key_code`` accepts: ``"right"``, ``"left"``, ``"q"``, ...) per action
  dimension. Without it, dimension i gets the i-th pair of q/a, w/s, e/d, r/f, t/g, y/h, u/j, i/k
  (8 dimensions at most). An env's ``ACTION_NAMES`` (one name per dimension), if it has them,
  label the keys in the help.
- With a single action dimension, the right and left arrows also work as plus and minus.
- Backspace resets the episode, Space pauses and resumes, Escape or closing the window quits.

An episode that ends (terminated or truncated) shows its return in the window and on the console,
and the next one starts by itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from simrl.envs.vec import make_render_env
from simrl.errors import ConfigError, EnvError

DEFAULT_KEYS = (("q", "a"), ("w", "s"), ("e", "d"), ("r", "f"), ("t", "g"), ("y", "h"), ("u", "j"), ("i", "k"))
ARROWS = ("right", "left")  # extra plus/minus keys for envs with one action dimension
CONTROLS = {"backspace": "reset", "space": "pause", "escape": "quit"}
FONT_SIZE = 22
PAD = 8
BANNER_SECONDS = 1.5


@dataclass(frozen=True)
class PlayResult:
    """What a session of play did.

    Attributes:
        frames: frames shown.
        episodes: episodes with at least one step, counting those reset by hand and the one running at the end.
        returns: the return of each episode the env ended (terminated or truncated), in order; episodes
            reset by hand or cut short by quitting are left out, so these compare with ``simrl eval``'s.
        actions: (steps, act_dim), the actions sent, one row per ``env.step``: one per frame unless paused.
    """

    frames: int
    episodes: int
    returns: list[float]
    actions: np.ndarray


def key_pairs(env: gym.Env) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Per action dimension, the key names that push it to its high and those that push it to its low.

    Raises:
        EnvError: not a Box action space; more than 8 dimensions without ``KEYS``; malformed ``KEYS``.
    """
    dims = int(np.prod(_box(env).shape))
    declared = getattr(env.unwrapped, "KEYS", None)
    if declared is None:
        if dims > len(DEFAULT_KEYS):
            raise EnvError(
                f"{_name(env)} has {dims} action dimensions; the default keys cover {len(DEFAULT_KEYS)}",
                "declare KEYS on the env class: one (plus, minus) pair of pygame key names per dimension",
            )
        declared = DEFAULT_KEYS[:dims]
    pair_ok = [isinstance(p, tuple | list) and len(p) == 2 and all(isinstance(k, str) for k in p) for p in declared]
    if not all(pair_ok) or len(declared) != dims:
        raise EnvError(
            f"{_name(env)} declares KEYS {declared!r} for {dims} action dimension(s)",
            "KEYS needs one (plus, minus) pair of pygame key names per dimension",
        )
    pairs = [((plus,), (minus,)) for plus, minus in declared]
    if dims == 1 and not set(ARROWS) & set(declared[0]):
        pairs[0] = ((declared[0][0], ARROWS[0]), (declared[0][1], ARROWS[1]))
    names = [k for plus, minus in pairs for k in plus + minus]
    clashes = sorted({k for k in names if names.count(k) > 1 or k in CONTROLS})
    if clashes:
        raise EnvError(
            f"{_name(env)}'s KEYS use {', '.join(clashes)} twice or for a control",
            f"each key drives one action; {', '.join(CONTROLS)} are taken",
        )
    return pairs


def keys_help(env: gym.Env) -> list[str]:
    """One line per action dimension (``q/a: action 0 to 2 / -2``) and one for the controls."""
    space = _box(env)
    low, high = space.low.reshape(-1), space.high.reshape(-1)
    lines = []
    names = getattr(env.unwrapped, "ACTION_NAMES", None) or ()
    for i, (plus, minus) in enumerate(key_pairs(env)):
        keys = " or ".join(f"{p}/{m}" for p, m in zip(plus, minus, strict=True))
        what = f"action {i} ({names[i]})" if i < len(names) else f"action {i}"
        lines.append(f"{keys}: {what} to {high[i]:g} / {low[i]:g}")
    lines.append("   ".join(f"{key}: {what}" for key, what in CONTROLS.items()))
    return lines


def play(
    env_id: str,
    *,
    params: Mapping[str, float] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    seed: int = 0,
    fps: float | None = None,
    scale: float = 1.0,
    max_frames: int | None = None,
    before_frame: Callable[[int], None] | None = None,
    log: Callable[[str], None] = print,
) -> PlayResult:
    """Open a window on ``env_id`` and step it with the keys a person holds, until they quit.

    Args:
        env_id: a registered Gymnasium id with a Box action space and the ``rgb_array`` render mode.
        params: simulator parameters by name (checked against the env's parameter space).
        env_kwargs: other constructor arguments, e.g. ``{"reward": "alive"}``.
        seed: seeds the first reset; later episodes continue its random stream.
        fps: frames (= steps) per second; default the env's ``metadata["render_fps"]``, else 30.
        scale: the frame's size on screen relative to the env's.
        max_frames: stop after this many frames (default: when the person quits).
        before_frame: called with the frame's index before its events are read (tests post keys here).
        log: prints the key help at the start and one line per finished episode.

    Returns:
        A :class:`PlayResult`.

    Raises:
        EnvError: unknown id, parameter or argument; not a Box action space; no ``rgb_array`` rendering.
        ConfigError: a non-positive ``fps`` or ``scale``, a negative ``max_frames``.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"scale must be a positive number, got {scale}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps must be a positive number, got {fps}")
    if max_frames is not None and max_frames < 0:
        raise ConfigError(f"max_frames must be at least 0, got {max_frames}")
    env = _make_env(env_id, params, env_kwargs)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    try:
        pygame.display.init()
        pygame.font.init()
        rate = fps or env.metadata.get("render_fps") or 30
        return _Session(pygame, env, seed, rate, log).run(scale, max_frames, before_frame)
    finally:
        env.close()
        pygame.font.quit()
        pygame.display.quit()


def _make_env(env_id: str, params: Mapping[str, float] | None, env_kwargs: Mapping[str, Any] | None) -> gym.Env:
    env = make_render_env(env_id, params, env_kwargs)
    try:
        if env.render_mode != "rgb_array":
            raise EnvError(f"{env_id} cannot render frames as arrays", "simrl play needs the 'rgb_array' render mode")
        key_pairs(env)  # a Discrete space or bad KEYS fail here, before a window opens
    except BaseException:
        env.close()
        raise
    return env


def _box(env: gym.Env) -> gym.spaces.Box:
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise EnvError(
            f"{_name(env)} has a {type(space).__name__} action space; simrl play drives Box (continuous) actions only",
            "play a continuous-control task, e.g. simrl/Pendulum-v0",
        )
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise EnvError(f"{_name(env)} has unbounded actions", "simrl play needs finite action bounds")
    return space


def _name(env: gym.Env) -> str:
    return env.spec.id if env.spec is not None else type(env.unwrapped).__name__


def _frame(env: gym.Env) -> np.ndarray:
    frame = env.render()
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise EnvError(f"{_name(env)} rendered no RGB frame", "simrl play needs render() to return an HxWx3 array")
    return np.ascontiguousarray(frame[..., :3])


@dataclass
class _Episode:
    steps: int = 0
    ret: float = 0.0


@dataclass
class _Controls:
    """Key state from events (``pygame.key.get_pressed`` misses posted events, so held keys are tracked here)."""

    held: set[int] = field(default_factory=set)
    paused: bool = False
    reset: bool = False
    quit: bool = False

    def handle(self, pygame: Any) -> None:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                self.quit = True
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_BACKSPACE:
                self.reset = True
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_SPACE:
                self.paused = not self.paused
            elif event.type == pygame.KEYDOWN:
                self.held.add(event.key)
            elif event.type == pygame.KEYUP:
                self.held.discard(event.key)
            elif event.type == pygame.WINDOWFOCUSLOST:
                self.held.clear()  # the key-ups go to another window


class _Session:
    """One window, one env: the loop of :func:`play`."""

    def __init__(self, pygame: Any, env: gym.Env, seed: int, rate: float, log: Callable[[str], None]) -> None:
        self.pg, self.env, self.seed, self.rate, self.log = pygame, env, seed, rate, log
        space = _box(env)
        self.low = space.low.reshape(-1).astype(np.float64)
        self.high = space.high.reshape(-1).astype(np.float64)
        self.neutral = np.where((self.low <= 0) & (self.high >= 0), 0.0, (self.low + self.high) / 2)
        self.bindings = [(self._codes(plus), self._codes(minus)) for plus, minus in key_pairs(env)]
        self.help = keys_help(env)
        self.ep = _Episode()
        self.episodes = 0
        self.returns: list[float] = []
        self.actions: list[np.ndarray] = []
        self.banner, self.banner_until = "", -1

    def _codes(self, names: tuple[str, ...]) -> frozenset[int]:
        try:
            return frozenset(self.pg.key.key_code(n) for n in names)
        except ValueError:
            raise EnvError(
                f"{_name(self.env)}'s KEYS name a key pygame does not know: {', '.join(names)}",
                "use names that pygame.key.key_code accepts, e.g. 'right', 'left', 'q'",
            ) from None

    def action(self, held: set[int]) -> np.ndarray:
        plus = np.array([bool(p & held) for p, _ in self.bindings])
        minus = np.array([bool(m & held) for _, m in self.bindings])
        return np.where(plus & ~minus, self.high, np.where(minus & ~plus, self.low, self.neutral))

    def run(self, scale: float, max_frames: int | None, before_frame: Callable[[int], None] | None) -> PlayResult:
        self.log(f"playing {_name(self.env)} at {self.rate:g} steps per second; keys:")
        for line in self.help:
            self.log(f"  {line}")
        self.env.reset(seed=self.seed)
        frame = _frame(self.env)
        window = _Window(self.pg, frame.shape, scale, self.help, f"simrl play {_name(self.env)}")
        clock, controls = self.pg.time.Clock(), _Controls()
        frames = 0
        while max_frames is None or frames < max_frames:
            if before_frame is not None:
                before_frame(frames)
            controls.handle(self.pg)
            if controls.quit:
                break
            if controls.reset:
                controls.reset = False
                self._reset_by_hand()
                frame = _frame(self.env)
            if not controls.paused:
                self._step(self.action(controls.held), frames)
                frame = _frame(self.env)
            window.draw(frame, self._status(controls.paused), self._note(controls.paused, frames))
            self.pg.display.flip()
            clock.tick(self.rate)
            frames += 1
        actions = np.array(self.actions, dtype=np.float64).reshape(len(self.actions), len(self.low))
        return PlayResult(frames=frames, episodes=self.episodes, returns=self.returns, actions=actions)

    def _step(self, action: np.ndarray, frame_index: int) -> None:
        space = self.env.action_space
        _, reward, terminated, truncated, _ = self.env.step(action.astype(space.dtype).reshape(space.shape))
        self.actions.append(action)
        if self.ep.steps == 0:
            self.episodes += 1
        self.ep.steps += 1
        self.ep.ret += float(reward)
        if terminated or truncated:
            self.returns.append(self.ep.ret)
            self.banner = f"episode {self.episodes}: return {self.ep.ret:.1f}"
            self.banner_until = frame_index + round(BANNER_SECONDS * self.rate)
            self.log(f"{self.banner} in {self.ep.steps} steps ({'terminated' if terminated else 'truncated'})")
            self.env.reset()
            self.ep = _Episode()

    def _reset_by_hand(self) -> None:
        if self.ep.steps:
            self.log(
                f"episode {self.episodes}: reset by hand after {self.ep.steps} steps (return so far {self.ep.ret:.1f})"
            )
        self.env.reset()
        self.ep = _Episode()

    def _status(self, paused: bool) -> list[str]:
        last = f"{self.returns[-1]:.1f}" if self.returns else "none"
        action = self.actions[-1] if self.actions else self.neutral
        return [
            f"step {self.ep.steps}   return {self.ep.ret:.1f}   last episode: {last}" + ("   PAUSED" if paused else ""),
            "action " + " ".join(f"{a:+.2f}" for a in action),
        ]

    def _note(self, paused: bool, frame_index: int) -> str:
        if paused:
            return "paused: space to resume"
        return self.banner if frame_index < self.banner_until else ""


class _Window:
    """The frame on top (scaled), a text panel below: status lines, then the key help."""

    def __init__(self, pygame: Any, shape: tuple[int, ...], scale: float, help_lines: list[str], title: str) -> None:
        self.pg = pygame
        self.font = pygame.font.Font(None, FONT_SIZE)
        self.line = self.font.get_linesize()
        self.help = help_lines
        self.frame_size = (max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale)))
        longest_status = "step 1000   return -10000.0   last episode: -10000.0   PAUSED"
        widest = max(self.font.size(t)[0] for t in [*help_lines, longest_status])
        width = max(self.frame_size[0], widest + 2 * PAD)
        height = self.frame_size[1] + (2 + len(help_lines)) * self.line + 3 * PAD
        self.surface = pygame.display.set_mode((width, height))
        pygame.display.set_caption(title)

    def draw(self, frame: np.ndarray, status: list[str], note: str) -> None:
        pg, surface = self.pg, self.surface
        surface.fill((28, 28, 32))
        image = pg.surfarray.make_surface(frame.swapaxes(0, 1))
        if image.get_size() != self.frame_size:
            image = pg.transform.scale(image, self.frame_size)
        x0 = (surface.get_width() - self.frame_size[0]) // 2
        surface.blit(image, (x0, 0))
        if note:
            text = self.font.render(note, True, (255, 255, 255))
            box = pg.Surface((text.get_width() + 2 * PAD, text.get_height() + PAD), pg.SRCALPHA)
            box.fill((0, 0, 0, 170))
            box.blit(text, (PAD, PAD // 2))
            surface.blit(box, ((surface.get_width() - box.get_width()) // 2, PAD))
        y = self.frame_size[1] + PAD
        for text in status:
            surface.blit(self.font.render(text, True, (240, 240, 240)), (PAD, y))
            y += self.line
        y += PAD
        for text in self.help:
            surface.blit(self.font.render(text, True, (165, 170, 180)), (PAD, y))
            y += self.line
