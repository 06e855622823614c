"""Wrappers that change a parametric env's simulator parameters."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from simrl.types import ParamSampler


class DomainRandomization(gym.Wrapper):
    """Draw new simulator parameters from ``sampler`` at every reset.

    The wrapped env must expose ``set_params(vector)`` (on the env itself or a wrapper:
    ``simrl.envs.vec.make_env`` builds both kinds). Draws come from the
    env's own ``np_random``, so a seeded reset reproduces the same parameters.
    """

    def __init__(self, env: gym.Env, sampler: ParamSampler) -> None:
        super().__init__(env)
        self.sampler = sampler

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            # Seed the env's generator (what gymnasium.Env.reset does with a seed) before drawing,
            # so the parameters below are reproducible from the reset seed.
            gym.Env.reset(self.env.unwrapped, seed=seed)
        vector = self.sampler.sample(1, self.env.unwrapped.np_random)[0]
        self.env.get_wrapper_attr("set_params")(vector)
        obs, info = self.env.reset(options=options)
        info["params"] = np.asarray(vector)
        return obs, info
