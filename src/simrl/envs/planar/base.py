"""What the pymunk tasks share: the physics clock, parameters, reward variants, rendering.

A task subclasses :class:`PlanarEnv` and writes four methods: ``_build`` (a fresh pymunk space from
the current parameters and a seeded generator), ``_act`` (forces and torques for one physics substep),
``_observe`` and ``_outcome`` (reward terms and termination), and may write ``_measures`` (what
``info`` reports as ``metric_<name>``). The base class owns the rest: the control rate and substeps,
seeding, parameter changes, the reward variants and their ``info`` terms, and drawing (pygame-ce,
imported only when a frame is drawn).

Units are SI (metres, kilograms, seconds, newtons); y points up; angles are counter-clockwise.
The world is rebuilt at every reset, so a seeded reset fully determines the episode.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from simrl.envs.params import Params, ParamSpace
from simrl.envs.window import Window
from simrl.errors import EnvError

# Colours (RGB) shared by the tasks' drawings.
SKY = (250, 250, 252)
GROUND = (120, 120, 120)
BODY = (70, 110, 200)
BODY_FAR = (150, 170, 215)  # the limbs on the far side
HEAD = (60, 90, 170)
WOOD = (170, 120, 70)
RED = (204, 77, 77)
DARK = (40, 40, 40)
FORCE = (230, 150, 40)


def wrap_angle(a: float) -> float:
    """``a`` wrapped into [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


class Canvas:
    """A frame to draw on in world coordinates (metres, y up), supersampled for smooth edges.

    ``center`` is the world point at the middle of the frame and ``ppm`` the pixels per metre of
    the final image. Drawing happens at ``ss`` times the resolution; :meth:`image` scales it down.
    """

    def __init__(self, size: tuple[int, int], center: tuple[float, float], ppm: float, ss: int = 2) -> None:
        import pygame

        self.pygame = pygame
        self.size = size
        self.ss = ss
        self.scale = ppm * ss
        self.cx, self.cy = center
        self.surface = pygame.Surface((size[0] * ss, size[1] * ss))
        self.surface.fill(SKY)

    def px(self, x: float, y: float) -> tuple[float, float]:
        w, h = self.surface.get_size()
        return w / 2 + (x - self.cx) * self.scale, h / 2 - (y - self.cy) * self.scale

    def segment(self, a: Sequence[float], b: Sequence[float], radius: float, colour) -> None:
        """A capsule: a thick line from ``a`` to ``b`` with round ends of ``radius`` metres."""
        pa, pb = self.px(*a), self.px(*b)
        r = max(radius * self.scale, 1.0)
        dx, dy = pb[0] - pa[0], pb[1] - pa[1]
        n = math.hypot(dx, dy)
        if n > 1e-9:
            ox, oy = -dy / n * r, dx / n * r
            quad = [
                (pa[0] + ox, pa[1] + oy),
                (pb[0] + ox, pb[1] + oy),
                (pb[0] - ox, pb[1] - oy),
                (pa[0] - ox, pa[1] - oy),
            ]
            self.pygame.draw.polygon(self.surface, colour, quad)
        self.pygame.draw.circle(self.surface, colour, pa, r)
        self.pygame.draw.circle(self.surface, colour, pb, r)

    def circle(self, c: Sequence[float], radius: float, colour, width: float = 0.0) -> None:
        w = 0 if width <= 0 else max(1, round(width * self.scale))
        self.pygame.draw.circle(self.surface, colour, self.px(*c), max(radius * self.scale, 1.0), w)

    def polygon(self, points: Sequence[Sequence[float]], colour) -> None:
        self.pygame.draw.polygon(self.surface, colour, [self.px(*p) for p in points])

    def ground(self, y: float = 0.0, colour=GROUND) -> None:
        """Fill everything below height ``y``, with tick marks every metre to show motion."""
        w, h = self.surface.get_size()
        top = self.px(0.0, y)[1]
        self.pygame.draw.rect(self.surface, colour, (0, top, w, h - top))
        left = math.floor(self.cx - w / 2 / self.scale)
        for i in range(left, left + int(w / self.scale) + 2):
            x = self.px(float(i), y)[0]
            self.pygame.draw.line(self.surface, SKY, (x, top), (x, top + 0.06 * self.scale), max(1, self.ss))

    def image(self) -> np.ndarray:
        """The frame as an ``H x W x 3`` uint8 array."""
        small = self.pygame.transform.smoothscale(self.surface, self.size)
        return np.ascontiguousarray(self.pygame.surfarray.array3d(small).swapaxes(0, 1))


class PlanarEnv(gym.Env[np.ndarray, np.ndarray]):
    """Base class of the pymunk tasks (see the module docstring). Subclasses set the class attributes."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": 50}
    ENV_ID: ClassVar[str] = ""
    PARAM_SPACE: ClassVar[ParamSpace]
    REWARDS: ClassVar[tuple[str, ...]] = ("shaped", "alive")
    DT: ClassVar[float] = 0.02  # seconds per control step (50 Hz)
    SUBSTEPS: ClassVar[int] = 4  # physics steps per control step
    FRAME: ClassVar[tuple[int, int]] = (480, 320)  # rendered width, height in pixels
    PPM: ClassVar[float] = 100.0  # rendered pixels per metre
    SIZES: ClassVar[tuple[int, int]] = (0, 0)  # observation size, action size (actions lie in [-1, 1])
    ACTION_NAMES: ClassVar[tuple[str, ...]] = ()  # what each action dimension drives (``simrl play``'s help)

    def __init__(self, render_mode: str | None = None, reward: str = "shaped", **params: float) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvError(f"unknown render mode '{render_mode}' for {self.ENV_ID}", "use 'rgb_array' or 'human'")
        if reward not in self.REWARDS:
            raise EnvError(f"unknown reward '{reward}' for {self.ENV_ID}", f"rewards: {', '.join(self.REWARDS)}")
        self.render_mode = render_mode
        self.reward_name = reward
        n_obs, n_act = self.SIZES
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n_obs,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (n_act,), np.float32)
        self.params: Params = self.PARAM_SPACE.make(params)
        self.space: Any = None  # pymunk.Space, built at reset
        self.last_action = np.zeros(self.action_space.shape, dtype=np.float32)
        self.steps = 0
        self.window = Window(self.ENV_ID, self.metadata["render_fps"])

    # ------------------------------------------------------------------------------- parameters

    def set_params(self, values: Mapping[str, float] | Sequence[float] | np.ndarray) -> Params:
        """Set the simulator parameters; the world is rebuilt with them at the next reset.

        Args:
            values: a vector in ``PARAM_SPACE`` order, or a mapping of some names to values (the
                others keep their current values).

        Raises:
            EnvError: an unknown name, a value outside its bounds, a vector of the wrong length.
        """
        self.params = self.PARAM_SPACE.updated(self.params, values)
        return self.params

    # --------------------------------------------------------------------------------- stepping

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        import pymunk

        self.space = pymunk.Space()
        self.space.gravity = (0.0, -self.params["gravity"])
        # pymunk's defaults suit pixel units; in metres, allow 1 mm of overlap at rest, not 10 cm.
        self.space.collision_slop = 0.001
        self.space.iterations = 20
        self._build(self.space, self.np_random)
        self.steps = 0
        self.last_action = np.zeros(self.action_space.shape, dtype=np.float32)
        if self.render_mode == "human":
            self.render()
        return self._observe(), {}

    def step(self, action: np.ndarray):
        if self.space is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(self.action_space.shape), -1.0, 1.0)
        a = np.nan_to_num(a, nan=0.0)
        h = self.DT / self.SUBSTEPS
        for _ in range(self.SUBSTEPS):
            self._act(a)
            self.space.step(h)
        self.steps += 1
        self.last_action = a.astype(np.float32)
        obs = self._observe()
        terms, terminated = self._outcome(a, obs)
        if not np.isfinite(obs).all():  # the solver blew up: end the episode, keep the data finite
            obs = np.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0)
            terminated = True
        if self.reward_name == "alive":
            terms = {"alive": 1.0}
        info = {f"reward_{k}": v for k, v in terms.items()}
        info.update((f"metric_{k}", v) for k, v in self._measures(obs).items())
        if self.render_mode == "human":
            self.render()
        return obs, float(sum(terms.values())), bool(terminated), False, info

    # ------------------------------------------------------------------------- subclass hooks

    def _build(self, space: Any, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _act(self, action: np.ndarray) -> None:
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        raise NotImplementedError

    def _outcome(self, action: np.ndarray, obs: np.ndarray) -> tuple[dict[str, float], bool]:
        """The shaped reward's terms (``alive`` first) and whether the episode has terminated."""
        raise NotImplementedError

    def _measures(self, obs: np.ndarray) -> dict[str, float]:
        """Measures of the state after a step, reported as ``info["metric_<name>"]`` (none by default)."""
        return {}

    def _camera(self) -> tuple[float, float, float]:
        """The world point at the frame's centre and the pixels per metre."""
        return 0.0, 1.0, self.PPM

    def _draw(self, canvas: Canvas) -> None:
        raise NotImplementedError

    # -------------------------------------------------------------------------------- rendering

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn(
                f"render() needs a render_mode, e.g. gymnasium.make('{self.ENV_ID}', render_mode='rgb_array')"
            )
            return None
        if self.space is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        cx, cy, ppm = self._camera()
        canvas = Canvas(self.FRAME, (cx, cy), ppm)
        self._draw(canvas)
        frame = canvas.image()
        if self.render_mode == "rgb_array":
            return frame
        self.window.show(frame)
        return None

    def close(self) -> None:
        self.window.close()


def body_state(body: Any) -> tuple[float, float, float, float, float, float]:
    """``(x, y, angle, vx, vy, angular velocity)`` of a pymunk body, angle wrapped into [-pi, pi)."""
    p, v = body.position, body.velocity
    return p.x, p.y, wrap_angle(body.angle), v.x, v.y, body.angular_velocity
