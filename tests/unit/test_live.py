"""simrl watch's library half: real-time pacing, the evaluation's seeds, and when a window can open."""

from __future__ import annotations

import time
from typing import ClassVar

import gymnasium as gym
import numpy as np
import pytest

from simrl.errors import EnvError
from simrl.evaluation.live import LiveWindow, check_window

FPS = 50
STEPS = 10


class _Blink(gym.Env):
    """A human-mode env whose window draws nothing: it records its resets' seeds."""

    metadata: ClassVar[dict] = {"render_modes": ["human"], "render_fps": FPS}
    seeds: ClassVar[list] = []

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Box(-1, 1, (1,))
        self.action_space = gym.spaces.Box(-1, 1, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        _Blink.seeds.append(seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(1, dtype=np.float32), 1.0, False, False, {}


class _Zero:
    def predict(self, obs, state=None, episode_start=None, deterministic=True):
        return np.zeros((len(obs), 1), dtype=np.float32), None


@pytest.fixture
def blink(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":test")  # the env opens no window: any display will do
    gym.register("simrl-test/Blink-v0", entry_point=_Blink, max_episode_steps=STEPS)
    _Blink.seeds.clear()
    yield "simrl-test/Blink-v0"
    del gym.registry["simrl-test/Blink-v0"]


def test_episodes_play_in_real_time_on_consecutive_seeds(blink):
    ended = []
    started = time.monotonic()
    with LiveWindow(blink) as window:
        returns = window.play(_Zero(), episodes=3, seed=7, on_episode=lambda i, r, n: ended.append((i, r, n)))
    elapsed = time.monotonic() - started
    assert returns == [STEPS] * 3 and ended == [(i, STEPS, STEPS) for i in range(3)]
    # Each episode is a reset frame and STEPS steps, shown at FPS frames per second.
    frames = 3 * (STEPS + 1)
    assert (frames - 1) / FPS <= elapsed < frames / FPS + 1.0
    assert _Blink.seeds[:3] == [7, 8, 9]


def test_a_window_needs_a_display_unless_pygame_draws_offscreen(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    check_window("simrl/Pendulum-v0")  # pygame's dummy driver needs no display
    with pytest.raises(EnvError, match="no display"):
        check_window("HalfCheetah-v5")  # glfw does
    monkeypatch.delenv("SDL_VIDEODRIVER")
    with pytest.raises(EnvError, match="no display"):
        check_window("simrl/Pendulum-v0")
    monkeypatch.setenv("DISPLAY", ":0")
    check_window("HalfCheetah-v5")


def test_an_env_without_a_human_mode_cannot_be_watched(monkeypatch):
    class _Frames(_Blink):
        metadata: ClassVar[dict] = {"render_modes": ["rgb_array"], "render_fps": FPS}

    monkeypatch.setenv("DISPLAY", ":0")
    gym.register("simrl-test/FramesOnly-v0", entry_point=_Frames, max_episode_steps=STEPS)
    try:
        with pytest.raises(EnvError, match=r"cannot show a window.*rgb_array"):
            check_window("simrl-test/FramesOnly-v0")
    finally:
        del gym.registry["simrl-test/FramesOnly-v0"]
