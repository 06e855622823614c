"""A pendulum that fails on purpose, for the sweep tests: ``simrl sweep ... sweep_envs:FlakyPendulum-v0``.

Gymnasium's ``module:EnvId`` form makes every process that builds the env (a sweep's spawned workers
included) import this module, which registers it. ``fail``: ``never``; ``once`` (the first process to pass
``after`` steps raises once, marked by the file ``marker``); ``always`` (every process past ``after`` steps).
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
from gymnasium.envs.classic_control.pendulum import PendulumEnv

_steps = {"n": 0}  # steps taken by every FlakyPendulum of this process


class FlakyPendulum(PendulumEnv):
    def __init__(self, fail: str = "never", marker: str = "", after: int = 1500, render_mode: str | None = None):
        super().__init__(render_mode=render_mode)
        if fail not in ("never", "once", "always"):
            raise ValueError(f"fail must be never, once or always, got {fail!r}")
        self.fail, self.marker, self.after = fail, marker, after

    def step(self, action):
        _steps["n"] += 1
        if self.fail != "never" and _steps["n"] > self.after:
            if self.fail == "always":
                raise RuntimeError("FlakyPendulum fails on purpose")
            if not Path(self.marker).exists():
                Path(self.marker).write_text("failed once\n")
                raise RuntimeError("FlakyPendulum fails once on purpose")
        return super().step(action)


gym.register("FlakyPendulum-v0", entry_point=FlakyPendulum, max_episode_steps=200)
