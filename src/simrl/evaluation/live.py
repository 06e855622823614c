"""Watch a policy live: its episodes in the env's own window (``render_mode="human"``), at real speed.

The library half of ``simrl watch``. simrl's envs draw their window with pygame
(:mod:`simrl.envs.window`), Gymnasium's MuJoCo tasks with glfw. Episode ``i`` is reset with
``seed + i`` (by default the evaluation's seeds, so the window shows the episodes ``simrl eval``
scores), and the policy acts through :class:`simrl.data.rollout.Stepper`, as in every rollout.
Steps are paced at the env's ``metadata["render_fps"]``: simrl's window waits for each frame's
turn itself, MuJoCo's viewer draws as fast as it can, so the pace is kept here for every env.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from simrl.errors import ConfigError, EnvError
from simrl.evaluation.evaluate import EVAL_SEED
from simrl.types import Policy

# Modules whose envs draw with pygame: SDL's dummy or offscreen video driver needs no display.
_PYGAME_MODULES = ("simrl.", "gymnasium.envs.classic_control", "gymnasium.envs.box2d", "gymnasium.envs.toy_text")
_HEADLESS_SDL = ("dummy", "offscreen")
NO_WINDOW_HINT = "use 'simrl record' for a video"


def check_window(env_id: str) -> None:
    """Check, before any work, that ``env_id`` can show a window here.

    Raises:
        EnvError: an unknown id; an env without the ``human`` render mode; no display to open a
            window on (Linux without ``DISPLAY`` or ``WAYLAND_DISPLAY``, unless a pygame env runs
            under ``SDL_VIDEODRIVER=dummy``).
    """
    from simrl.envs.vec import env_class, env_spec

    env_spec(env_id)
    cls = env_class(env_id)
    metadata = getattr(cls, "metadata", None)
    modes = metadata.get("render_modes") if isinstance(metadata, Mapping) else None
    if modes is not None and "human" not in modes:
        shown = ", ".join(modes) or "none"
        raise EnvError(f"{env_id} cannot show a window (its render modes: {shown})", NO_WINDOW_HINT)
    if sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    module = getattr(cls, "__module__", "") or ""
    if module.startswith(_PYGAME_MODULES) and os.environ.get("SDL_VIDEODRIVER", "").lower() in _HEADLESS_SDL:
        return
    raise EnvError(f"no display for a window to show {env_id} (DISPLAY is not set)", NO_WINDOW_HINT)


class LiveWindow:
    """One ``human``-mode env and its window, in which policies play episodes one after another.

    Use as a context manager: leaving it (at the end, on Ctrl-C or on an error) closes the window.
    """

    def __init__(
        self,
        env_id: str,
        *,
        params: Mapping[str, float] | None = None,
        env_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        """Open the env (its window appears on the first frame).

        Raises:
            EnvError: as :func:`check_window`, and for an unknown parameter or env kwarg.
        """
        from stable_baselines3.common.vec_env import DummyVecEnv

        from simrl.envs.vec import env_spec, param_space
        from simrl.evaluation.video import DEFAULT_FPS, UNLIMITED_EPISODE_STEPS

        check_window(env_id)
        space = param_space(env_id)
        if params and not len(space):
            raise EnvError(f"{env_id} has no simulator parameters", "see 'simrl envs' for parametric envs")
        kwargs = {**(dict(space.make(params)) if len(space) else {}), **(env_kwargs or {})}
        env = gym.make(env_id, render_mode="human", **kwargs)
        self.fps = float(env.metadata.get("render_fps") or DEFAULT_FPS)
        self.max_steps = env_spec(env_id).max_episode_steps or UNLIMITED_EPISODE_STEPS
        self._env = _Paced(env, self.fps)
        self._venv = DummyVecEnv([lambda: self._env])
        self._open = True

    def __enter__(self) -> LiveWindow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the env and its window; safe to call twice."""
        if self._open:
            self._open = False
            self._venv.close()

    def play(
        self,
        policy: Policy,
        *,
        episodes: int | None = None,
        seed: int = EVAL_SEED,
        deterministic: bool = True,
        on_episode: Callable[[int, float, int], None] | None = None,
    ) -> list[float]:
        """Run ``policy`` for ``episodes`` episodes (``None``: until the window is closed).

        Args:
            policy: acts on a batch of one observation.
            episodes: how many; episode ``i`` is reset with ``seed + i``.
            seed: the first episode's seed.
            deterministic: passed to ``predict``.
            on_episode: called as each episode ends, with its index, return and length.

        Returns:
            The return of each episode that ended; closing the window (or Escape in simrl's
            window) stops early, and the episode it cut short is left out.

        Raises:
            ConfigError: ``episodes`` below 1.
        """
        from simrl.data import rollout

        if episodes is not None and episodes < 1:
            raise ConfigError(f"--episodes must be at least 1, got {episodes}")
        self._env.next_seed = seed
        returns: list[float] = []
        try:
            stepper = rollout.Stepper(policy, self._venv, self._venv.reset(), deterministic)
            while episodes is None or len(returns) < episodes:
                ret, length, ended = 0.0, 0, False
                while not ended and length < self.max_steps:
                    _, _, rewards, terminated, truncated, _ = stepper.step()
                    ret, length = ret + float(rewards[0]), length + 1
                    ended = bool(terminated[0] or truncated[0])
                if not ended:  # cut at max_steps: the env did not reset itself
                    stepper = rollout.Stepper(policy, self._venv, self._venv.reset(), deterministic)
                returns.append(ret)
                if on_episode is not None:
                    on_episode(len(returns) - 1, ret, length)
        except _WindowClosed:
            pass
        return returns


class _WindowClosed(Exception):
    """The person closed the window."""


class _Paced(gym.Wrapper):
    """Resets with consecutive seeds from ``next_seed``, keeps frames at ``fps``, notices a closed window."""

    def __init__(self, env: gym.Env, fps: float) -> None:
        super().__init__(env)
        self.period = 1.0 / fps
        self.next_seed: int | None = None
        self._due: float | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is None and self.next_seed is not None:
            seed, self.next_seed = self.next_seed, self.next_seed + 1
        out = self.env.reset(seed=seed, options=options)
        self._pace()
        return out

    def step(self, action: Any):
        if _closed(self.env):
            raise _WindowClosed
        out = self.env.step(action)
        self._pace()
        return out

    def _pace(self) -> None:
        """Wait for this frame's turn; after falling behind by more than a frame, start the clock again."""
        now = time.monotonic()
        if self._due is None or now > self._due + self.period:
            self._due = now
        elif self._due > now:
            time.sleep(self._due - now)
        self._due += self.period


def _closed(env: gym.Env) -> bool:
    """Whether the person closed the env's window (pygame: the close button or Escape; glfw: the close button)."""
    pygame = sys.modules.get("pygame")
    if pygame is not None and pygame.display.get_init():
        for event in pygame.event.get([pygame.QUIT, pygame.KEYDOWN]):
            if event.type == pygame.QUIT or event.key == pygame.K_ESCAPE:
                return True
    viewer = getattr(getattr(env.unwrapped, "mujoco_renderer", None), "viewer", None)
    window = getattr(viewer, "window", None)
    if window is not None:
        import glfw

        # Checked before the step: Gymnasium's viewer destroys a window it finds closing, then draws into it.
        return bool(glfw.window_should_close(window))
    return False
