"""The parametric pendulum: its dynamics as pure functions of arrays, and the Gymnasium env.

:func:`transition`, :func:`observe` and :func:`draw_pendulum` are shared with
:class:`simrl.envs.batched_pendulum.BatchedPendulum`, so the batch is the single env N times over.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from simrl.envs.params import Param, Params, ParamSpace
from simrl.envs.window import Window
from simrl.errors import EnvError

DT = 0.05  # s per step
MAX_SPEED = 8.0  # rad/s
MAX_TORQUE = 2.0  # N m
RESET_HIGH = np.array([np.pi, 1.0])  # initial (theta, thetadot) ~ U(-RESET_HIGH, RESET_HIGH)

PARAM_SPACE = ParamSpace(
    (
        Param("mass", 1.0, 0.05, 5.0, "kg", "mass of the rod, spread uniformly along it"),
        Param("length", 1.0, 0.05, 5.0, "m", "length of the rod, pivot to free end"),
        Param("gravity", 10.0, 0.0, 30.0, "m/s^2", "gravitational acceleration"),
    ),
    env_id="simrl/Pendulum-v0",
)

RESET_HIGH.flags.writeable = False


def _spaces() -> tuple[spaces.Box, spaces.Box]:
    """Fresh observation and action spaces (each env seeds its own), those of Pendulum-v1."""
    high = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)
    return spaces.Box(-high, high, dtype=np.float32), spaces.Box(-MAX_TORQUE, MAX_TORQUE, (1,), np.float32)


# ----------------------------------------------------------------------------------------- dynamics


class Coefficients(NamedTuple):
    """Per-pendulum constants of the dynamics, computed once per episode from (mass, length, gravity)."""

    gravity: np.ndarray  # 3 g / (2 l): angular acceleration per unit sin(theta), float64
    torque: np.ndarray  # 3 / (m l^2): angular acceleration per N m, float32 (see transition)


def coefficients(mass: np.ndarray, length: np.ndarray, gravity: np.ndarray) -> Coefficients:
    """The constants of a uniform rod of ``mass`` and ``length`` pivoting at one end under ``gravity``."""
    mass, length, gravity = (np.asarray(x, dtype=np.float64) for x in (mass, length, gravity))
    return Coefficients(3.0 * gravity / (2.0 * length), (3.0 / (mass * length * length)).astype(np.float32))


def transition(
    theta: np.ndarray,
    thetadot: np.ndarray,
    torque: np.ndarray,
    coef: Coefficients,
    sin_theta: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One semi-implicit Euler step of any number of pendulums.

    Args:
        theta: angle from upright (rad), float64, any shape.
        thetadot: angular velocity (rad/s), float64, same shape.
        torque: applied torque (N m), float32, same shape; clipped to [-2, 2] here.
        coef: from :func:`coefficients`, broadcastable to the same shape.
        sin_theta: ``np.sin(theta)`` if the caller has it already (the batch keeps the observation's).

    Returns:
        ``(theta, thetadot, reward)`` after the step; the reward is that of the state and torque before it.
    """
    if sin_theta is None:
        sin_theta = np.sin(theta)
    u = np.minimum(np.maximum(torque, -MAX_TORQUE), MAX_TORQUE)
    # Pendulum-v1 forms the torque terms in float32 (a Python float times a float32 action); doing
    # the same keeps the two bit-identical over hundreds of steps instead of drifting apart (1e-3 by 300).
    angle = theta - 2 * np.pi * np.rint(theta / (2 * np.pi))  # in [-pi, pi]; 3x faster than a float %
    cost = angle * angle + 0.1 * (thetadot * thetadot) + 0.001 * (u * u)
    thetadot = thetadot + (coef.gravity * sin_theta + coef.torque * u) * DT
    thetadot = np.minimum(np.maximum(thetadot, -MAX_SPEED), MAX_SPEED)
    return theta + thetadot * DT, thetadot, -cost


def observe(theta: np.ndarray, thetadot: np.ndarray, sin_theta: np.ndarray | None = None) -> np.ndarray:
    """Observations ``[cos(theta), sin(theta), thetadot]`` as float32, shape ``(N, 3)``."""
    obs = np.empty((len(theta), 3), dtype=np.float32)
    obs[:, 0] = np.cos(theta)
    obs[:, 1] = np.sin(theta) if sin_theta is None else sin_theta
    obs[:, 2] = thetadot
    return obs


def reset_high(options: Mapping[str, Any] | None) -> np.ndarray:
    """Half-widths of the initial (theta, thetadot) box; ``x_init``/``y_init`` override, as in Pendulum-v1."""
    if not options:
        return RESET_HIGH
    from gymnasium.envs.classic_control.utils import verify_number_and_cast

    return np.array(
        [
            verify_number_and_cast(options.get("x_init", RESET_HIGH[0])),
            verify_number_and_cast(options.get("y_init", RESET_HIGH[1])),
        ]
    )


# ---------------------------------------------------------------------------------------- rendering

_VIEW = 2.2  # metres from the pivot to the frame's edge, unless the rod needs more
_ROD, _BOB, _PIVOT = (204, 77, 77), (140, 40, 40), (0, 0, 0)
_RING, _ARC = (225, 225, 225), (70, 110, 200)


@functools.lru_cache(maxsize=4)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in pixels from the image centre, x to the right and y up."""
    c = np.arange(size, dtype=np.float32) + 0.5 - size / 2
    x, y = np.meshgrid(c, -c)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def _paint(canvas: np.ndarray, signed_distance: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Blend ``colour`` where ``signed_distance`` (pixels, negative inside) covers a pixel, anti-aliased."""
    alpha = np.clip(0.5 - signed_distance, 0.0, 1.0)
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if rows.size == 0:
        return
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)  # blend only around the shape
    canvas[box] += alpha[box][..., None] * (np.asarray(colour, dtype=np.float32) - canvas[box])


def draw_pendulum(
    theta: float, length: float = 1.0, mass: float = 1.0, torque: float | None = None, size: int = 256
) -> np.ndarray:
    """An RGB image (``size x size x 3``, uint8) of one pendulum, upright at ``theta = 0``.

    The rod's drawn length is proportional to ``length`` (the view widens beyond 2.2 m; the grey
    ring is 1 m for scale), the disc at its end grows with ``mass`` and the blue arc shows the
    torque: its sweep is proportional to ``|torque|``, counter-clockwise for positive torque.
    """
    x, y = _pixel_grid(size)
    scale = size / 2 / max(_VIEW, 1.1 * length + 0.3)  # pixels per metre
    canvas = np.full((size, size, 3), 255.0, dtype=np.float32)
    r = np.hypot(x, y)
    _paint(canvas, np.abs(r - scale) - 0.75, _RING)
    if torque is not None and np.isfinite(torque) and torque != 0.0:
        sweep = np.pi * min(abs(float(torque)), MAX_TORQUE) / MAX_TORQUE
        # Angle swept from 12 o'clock in the torque's direction.
        swept = np.arctan2(-x, y) * (1.0 if torque > 0 else -1.0) % (2 * np.pi)
        arc = np.abs(r - 0.4 * scale) - 0.04 * scale
        _paint(canvas, np.where(swept <= sweep, arc, np.inf), _ARC)
    tx, ty = -np.sin(theta) * length * scale, np.cos(theta) * length * scale
    tx, ty = float(tx), float(ty)  # Python floats keep the pixel arrays float32
    along = np.clip((x * tx + y * ty) / (tx * tx + ty * ty), 0.0, 1.0)
    _paint(canvas, np.hypot(x - along * tx, y - along * ty) - 0.07 * scale, _ROD)
    _paint(canvas, np.hypot(x - tx, y - ty) - (0.06 + 0.08 * float(np.cbrt(mass))) * scale, _BOB)
    _paint(canvas, r - 0.05 * scale, _PIVOT)
    return canvas.round().astype(np.uint8)


# ---------------------------------------------------------------------------------------- single env


class ParametricPendulum(gym.Env[np.ndarray, np.ndarray]):
    """Gymnasium's Pendulum-v1 with the rod's mass, length and gravity as parameters.

    ## Description

    A uniform rod hangs from a frictionless pivot; the torque applied at the pivot must swing it
    up and hold it upright. At mass=1, length=1, gravity=10 it is Pendulum-v1 step for step: the
    same states and observations bit for bit, the same rewards to 1e-10, the same reset distribution
    and random stream under a seed.

    ## Action space

    ``Box(-2, 2, (1,), float32)``: the torque in N m, counter-clockwise positive. Values outside
    are clipped to [-2, 2] by the dynamics.

    ## Observation space

    ``Box([-1, -1, -8], [1, 1, 8], (3,), float32)``: ``[cos(theta), sin(theta), thetadot]`` with
    ``theta`` the angle from upright (rad) and ``thetadot`` the angular velocity (rad/s).

    ## Dynamics

    With ``dt = 0.05`` s and the torque ``u`` clipped to [-2, 2], one step is

        thetadot' = clip(thetadot + (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt, -8, 8)
        theta'    = theta + thetadot' dt

    ## Reward

    ``-(angle^2 + 0.1 thetadot^2 + 0.001 u^2)`` of the state before the step, with ``angle`` the
    angle from upright wrapped into [-pi, pi]: 0 at best (upright, still, no torque), about -16.27
    at worst. The parameters do not enter the reward.

    ## Starting state

    ``theta ~ U(-pi, pi)``, ``thetadot ~ U(-1, 1)``. ``reset(options={"x_init": a, "y_init": b})``
    draws from ``U(-a, a)`` and ``U(-b, b)`` instead, as Pendulum-v1 does.

    ## Episode end

    Never terminates; ``gymnasium.make("simrl/Pendulum-v0")`` truncates after 200 steps.

    ## Arguments

    - ``render_mode``: ``None``, ``"rgb_array"`` (256x256x3 uint8 frames) or ``"human"`` (a pygame window).
    - ``mass`` (kg, default 1, in [0.05, 5]), ``length`` (m, default 1, in [0.05, 5]), ``gravity``
      (m/s^2, default 10, in [0, 30]): see ``PARAM_SPACE``. Values outside raise ``EnvError``.
      ``set_params`` changes them between (or during) episodes; ``DomainRandomization`` uses it.

    ## Version history

    - v0: initial version.
    """

    # One step is DT = 0.05 s, so 20 frames per second is real time (Pendulum-v1 says 30).
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": round(1 / DT)}
    PARAM_SPACE = PARAM_SPACE
    # The env's own batched implementation: make_vec_env steps N of these in one numpy call.
    VECTOR_ENTRY_POINT = "simrl.envs.batched_pendulum:BatchedPendulum"

    def __init__(
        self, render_mode: str | None = None, mass: float = 1.0, length: float = 1.0, gravity: float = 10.0
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvError(f"unknown render mode '{render_mode}' for simrl/Pendulum-v0", "use 'rgb_array' or 'human'")
        self.render_mode = render_mode
        self.observation_space, self.action_space = _spaces()
        self.state: np.ndarray | None = None  # [theta, thetadot], float64, like Pendulum-v1's
        self.last_torque: float | None = None
        self.window = Window("simrl/Pendulum-v0", self.metadata["render_fps"])
        self.set_params({"mass": mass, "length": length, "gravity": gravity})

    def set_params(self, values: Mapping[str, float] | Sequence[float] | np.ndarray) -> Params:
        """Set the simulator parameters; they act from the next step.

        Args:
            values: a vector in ``PARAM_SPACE`` order (mass, length, gravity), or a mapping of some
                names to values (the others keep their current values).

        Returns:
            The new :class:`Params`, also stored in ``self.params``.

        Raises:
            EnvError: an unknown name, a value outside its bounds, a vector of the wrong length.
        """
        if isinstance(values, Mapping):
            current = dict(self.params) if hasattr(self, "params") else {}
            params = PARAM_SPACE.make({**current, **values})
        else:
            vector = np.asarray(values, dtype=np.float64).reshape(-1)
            if len(vector) != len(PARAM_SPACE):
                raise EnvError(
                    f"expected {len(PARAM_SPACE)} parameters ({', '.join(PARAM_SPACE.names)}), got {len(vector)}"
                )
            params = PARAM_SPACE.from_vector(vector)
        self.params = params
        self._coef = coefficients(params["mass"], params["length"], params["gravity"])
        return params

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        high = reset_high(options)
        self.state = self.np_random.uniform(low=-high, high=high)
        self.last_torque = None
        if self.render_mode == "human":
            self.render()
        return self._obs(), {}

    def step(self, action: np.ndarray):
        if self.state is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        torque = np.asarray(action, dtype=np.float32).reshape(-1)[0]
        theta, thetadot, reward = transition(self.state[0], self.state[1], torque, self._coef)
        self.state = np.array([theta, thetadot])
        self.last_torque = float(np.clip(torque, -MAX_TORQUE, MAX_TORQUE))
        if self.render_mode == "human":
            self.render()
        return self._obs(), float(reward), False, False, {}

    def _obs(self) -> np.ndarray:
        return observe(self.state[:1], self.state[1:])[0]

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() needs a render_mode, e.g. gymnasium.make(id, render_mode='rgb_array')")
            return None
        frame = draw_pendulum(float(self.state[0]), self.params["length"], self.params["mass"], self.last_torque)
        if self.render_mode == "rgb_array":
            return frame
        self.window.show(frame)
        return None

    def close(self) -> None:
        self.window.close()
