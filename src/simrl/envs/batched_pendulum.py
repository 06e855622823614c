"""BatchedPendulum: N parametric pendulums stepped in one numpy call, as an SB3 VecEnv.

Kept apart from :mod:`simrl.envs.pendulum` so that ``gymnasium.make("simrl/Pendulum-v0")`` does
not import SB3 (and torch).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from simrl.envs.params import FixedSampler
from simrl.envs.pendulum import (
    PARAM_SPACE,
    RESET_HIGH,
    ParametricPendulum,
    _spaces,
    coefficients,
    draw_pendulum,
    observe,
    reset_high,
    transition,
)
from simrl.errors import EnvError
from simrl.types import ParamSampler


class BatchedPendulum(VecEnv):
    """N parametric pendulums stepped in one numpy call: an SB3 ``VecEnv`` for fast domain randomization.

    Env ``i`` is :class:`ParametricPendulum` with parameters ``params[i]``, redrawn from ``sampler``
    at every episode start. One ``numpy.random.Generator`` serves the whole batch: at each episode
    start it draws the (N, 3) parameters, then the (N, 2) initial states (env by env, theta then
    thetadot), so ``BatchedPendulum(1)`` seeded with ``s`` starts where Pendulum-v1 reset with ``s`` does.

    No pendulum terminates and ``reset()`` restarts them all, so every episode of the batch starts
    and ends on the same step: after ``max_episode_steps`` steps all envs report ``done`` with
    ``TimeLimit.truncated`` and ``terminal_observation`` in their info, and the returned observation
    is the first of the next episode (SB3's autoreset).

    Args:
        num_envs: number of pendulums.
        sampler: draws the parameters of each episode, in ``PARAM_SPACE`` order; None: the defaults.
        render_mode: None or ``"rgb_array"``.
        max_episode_steps: steps per episode.

    Raises:
        EnvError: ``num_envs`` or ``max_episode_steps`` below 1, an unsupported render mode.
    """

    PARAM_SPACE = PARAM_SPACE

    def __init__(
        self,
        num_envs: int,
        sampler: ParamSampler | None = None,
        render_mode: str | None = None,
        max_episode_steps: int = 200,
    ) -> None:
        if num_envs < 1 or max_episode_steps < 1:
            raise EnvError(
                f"BatchedPendulum needs num_envs >= 1 and max_episode_steps >= 1, "
                f"got {num_envs} and {max_episode_steps}"
            )
        if render_mode not in (None, "rgb_array"):
            raise EnvError(
                f"the batched pendulum renders 'rgb_array' only, not '{render_mode}'",
                "SB3's VecEnv.render('human') shows rgb_array frames",
            )
        self.render_mode = render_mode  # read by VecEnv.__init__ through get_attr
        super().__init__(num_envs, *_spaces())
        self.metadata = {**self.metadata, "render_fps": ParametricPendulum.metadata["render_fps"]}
        self.sampler = sampler if sampler is not None else FixedSampler(PARAM_SPACE.defaults())
        self.max_episode_steps = max_episode_steps
        self._rng = np.random.default_rng()
        self._params = np.tile(PARAM_SPACE.defaults().vector, (num_envs, 1))
        self._coef = coefficients(*self._params.T)
        self._theta = np.zeros(num_envs)
        self._thetadot = np.zeros(num_envs)
        self._sin = np.zeros(num_envs)
        self._torque = np.full(num_envs, np.nan, dtype=np.float32)  # last applied, for rendering
        self._actions = self._torque
        self._elapsed = 0
        self._needs_reset = True

    # -- state -------------------------------------------------------------------------------------

    @property
    def params(self) -> np.ndarray:
        """A copy of the current parameters, shape (N, 3), columns in ``PARAM_SPACE`` order."""
        return self._params.copy()

    @property
    def state(self) -> np.ndarray:
        """A copy of the current states, shape (N, 2): ``[theta, thetadot]``."""
        return np.stack([self._theta, self._thetadot], axis=1)

    def set_state(self, theta: np.ndarray, thetadot: np.ndarray) -> np.ndarray:
        """Put every pendulum in the given state (arrays of shape (N,) or scalars); returns the observations."""
        self._theta = np.broadcast_to(np.asarray(theta, dtype=np.float64), (self.num_envs,)).copy()
        self._thetadot = np.broadcast_to(np.asarray(thetadot, dtype=np.float64), (self.num_envs,)).copy()
        return self._observe()

    def sample_states(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2) states drawn as a reset draws them (uniform in the reset box), for ``set_state``."""
        return rng.uniform(-RESET_HIGH, RESET_HIGH, size=(n, 2))

    def set_params(self, params: np.ndarray) -> None:
        """Set the parameters of every pendulum for the rest of this episode.

        Args:
            params: shape (N, 3), one row per env, or (3,) for all; columns in ``PARAM_SPACE`` order.

        Raises:
            EnvError: a wrong shape, a value outside its bounds.
        """
        values = np.array(params, dtype=np.float64, ndmin=2)
        if values.shape == (1, len(PARAM_SPACE)):
            values = np.repeat(values, self.num_envs, axis=0)
        self._params = self._checked(values)
        self._coef = coefficients(*self._params.T)

    def _checked(self, params: np.ndarray) -> np.ndarray:
        if params.shape != (self.num_envs, len(PARAM_SPACE)):
            raise EnvError(f"parameters must have shape ({self.num_envs}, {len(PARAM_SPACE)}), got {params.shape}")
        bad = ~((PARAM_SPACE.low <= params) & (params <= PARAM_SPACE.high))  # also catches NaN
        if bad.any():
            row, col = np.argwhere(bad)[0]
            PARAM_SPACE.check_value(PARAM_SPACE.names[col], params[row, col])  # raises, naming it
        return params

    def _start_episodes(self, high: np.ndarray) -> np.ndarray:
        """Draw new parameters and initial states for all envs; return the first observations."""
        self.set_params(self.sampler.sample(self.num_envs, self._rng))
        state = self._rng.uniform(-high, high, size=(self.num_envs, 2))
        self._theta = np.ascontiguousarray(state[:, 0])
        self._thetadot = np.ascontiguousarray(state[:, 1])
        self._torque = np.full(self.num_envs, np.nan, dtype=np.float32)
        self._elapsed = 0
        return self._observe()

    def _observe(self) -> np.ndarray:
        self._sin = np.sin(self._theta)  # the next step's dynamics need it too
        return observe(self._theta, self._thetadot, self._sin)

    # -- VecEnv ------------------------------------------------------------------------------------

    def seed(self, seed: int | None = None) -> list[int]:
        """Seed the next ``reset()``: it re-creates the batch's generator from ``seed`` (fresh if None).

        Returns ``[seed, seed + 1, ...]``, one per env, as SB3's vec envs do.
        """
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self._seeds = [seed + i for i in range(self.num_envs)]
        return self._seeds

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        high = np.stack([reset_high(o) for o in self._options]) if any(self._options) else RESET_HIGH
        obs = self._start_episodes(high)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._needs_reset = False
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.array(actions, dtype=np.float32).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        if self._needs_reset:
            raise gym.error.ResetNeeded("call reset() before step()")
        self._torque = self._actions
        self._theta, self._thetadot, reward = transition(
            self._theta, self._thetadot, self._actions, self._coef, self._sin
        )
        obs = self._observe()
        self._elapsed += 1
        n = self.num_envs
        if self._elapsed < self.max_episode_steps:
            return obs, reward.astype(np.float32), np.zeros(n, dtype=bool), [{} for _ in repeat(None, n)]
        infos = [{"terminal_observation": last, "TimeLimit.truncated": True} for last in obs]
        self.reset_infos = [{} for _ in repeat(None, n)]
        return self._start_episodes(RESET_HIGH), reward.astype(np.float32), np.ones(n, dtype=bool), infos

    def close(self) -> None:
        pass

    def get_images(self) -> list[np.ndarray | None]:
        if self.render_mode != "rgb_array":
            return [None] * self.num_envs
        return [self.render_env(i) for i in range(self.num_envs)]

    def render_env(self, i: int) -> np.ndarray:
        """An RGB frame of env ``i`` (256x256x3 uint8), as ParametricPendulum draws it."""
        mass, length, _ = self._params[i]
        torque = self._torque[i]
        return draw_pendulum(self._theta[i], length, mass, None if np.isnan(torque) else float(torque))

    # The batch is one object: attributes and methods are the batch's, listed once per index.

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._require_all(indices, "set_attr")
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        self._require_all(indices, "env_method")
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result] * self.num_envs

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        return list(self._get_indices(indices))

    def _require_all(self, indices: VecEnvIndices, what: str) -> None:
        if indices is not None and sorted(self._indices(indices)) != list(range(self.num_envs)):
            raise ValueError(f"BatchedPendulum.{what} acts on the whole batch; pass indices=None")
