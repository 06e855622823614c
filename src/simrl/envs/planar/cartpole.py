"""``simrl/CartPole-v0``: a cart on a track with a hinged pole, driven by a continuous force."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from simrl.envs.params import Param, ParamSpace
from simrl.envs.planar.base import BODY, DARK, FORCE, RED, Canvas, PlanarEnv, wrap_angle

ANGLE_LIMIT = 12 * math.pi / 180  # rad: the episode ends beyond this lean
TRACK_LIMIT = 2.4  # m: the episode ends when the cart's centre leaves [-2.4, 2.4]
RESET_NOISE = 0.05  # every state variable starts uniform in [-0.05, 0.05]


class PlanarCartPole(PlanarEnv):
    """A cart on a horizontal track with a pole hinged on it; push the cart to keep the pole up.

    ## Description

    The classic cart-pole (Barto, Sutton and Anderson, 1983; Gymnasium's CartPole-v1 uses their
    constants) simulated by pymunk, with a continuous force instead of two discrete pushes. The
    cart slides on a horizontal track (optionally with Coulomb friction); the pole is a uniform rod
    on a frictionless hinge at the cart's centre.

    ## Action space

    ``Box(-1, 1, (1,), float32)``: the horizontal force on the cart as a fraction of
    ``motor_strength`` (newtons, default 10: CartPole-v1's push). Values outside are clipped.

    ## Observation space

    ``Box(-inf, inf, (4,), float32)``:

    | index | observation | unit |
    |---|---|---|
    | 0 | cart position x (0 at the track's centre) | m |
    | 1 | cart velocity | m/s |
    | 2 | pole angle from upright, counter-clockwise positive (leaning left) | rad |
    | 3 | pole angular velocity, counter-clockwise positive | rad/s |

    ## Rewards

    - ``reward="shaped"`` (default): the sum of ``alive`` = 1, ``upright`` = 1 - (angle / 12 deg)^2
      (1 when the pole is vertical, 0 at the limit), ``centred`` = -(x / 2.4)^2, ``still`` =
      -0.05 (cart velocity)^2 and ``ctrl`` = -0.01 action^2. At most 2 per step. ``still`` breaks the
      trap SAC otherwise falls into for thousands of steps: the pole held at a constant lean while
      the cart accelerates off the track.
    - ``reward="alive"``: 1 per step until the episode ends, as the original task.

    ``info`` holds each term as ``reward_<name>``; they sum to the reward.

    ## Starting state

    Cart position and velocity, pole angle and angular velocity each uniform in [-0.05, 0.05].

    ## Episode end

    Terminates when the pole leans more than 12 degrees or the cart's centre leaves [-2.4, 2.4] m;
    ``gymnasium.make`` truncates after 500 steps (10 s).

    ## Physics

    50 control steps per second (``DT`` = 0.02 s, CartPole-v1's ``tau``), each 4 pymunk substeps.

    ## Arguments

    - ``render_mode``: ``None``, ``"rgb_array"`` (240x600x3 uint8, height x width) or ``"human"`` (a window).
    - ``reward``: ``"shaped"`` or ``"alive"``.
    - Simulator parameters (``PARAM_SPACE``; ``simrl envs`` lists the bounds): ``cart_mass`` (kg, 1),
      ``pole_mass`` (kg, 0.1), ``pole_length`` (m, 1: the full rod, CartPole-v1's "length" 0.5 is
      half of it), ``friction`` (Coulomb coefficient of the cart on its track, 0), ``motor_strength``
      (N, 10), ``gravity`` (m/s^2, 9.81). ``set_params`` changes them from the next reset.

    ## Version history

    - v0: initial version.
    """

    ENV_ID = "simrl/CartPole-v0"
    SIZES = (4, 1)
    FRAME = (600, 240)
    KEYS: ClassVar[tuple[tuple[str, str], ...]] = (("right", "left"),)
    ACTION_NAMES = ("force on the cart",)
    PARAM_SPACE = ParamSpace(
        (
            Param("cart_mass", 1.0, 0.1, 10.0, "kg", "mass of the cart"),
            Param("pole_mass", 0.1, 0.01, 2.0, "kg", "mass of the pole, spread uniformly along it"),
            Param("pole_length", 1.0, 0.2, 3.0, "m", "length of the pole, hinge to tip"),
            Param("friction", 0.0, 0.0, 1.0, "", "Coulomb friction coefficient of the cart on the track"),
            Param("motor_strength", 10.0, 1.0, 50.0, "N", "force on the cart at action 1"),
            Param("gravity", 9.81, 0.0, 20.0, "m/s^2", "gravitational acceleration"),
        ),
        env_id="simrl/CartPole-v0",
    )

    def _build(self, space: Any, rng: np.random.Generator) -> None:
        import pymunk

        p = self.params
        half = p["pole_length"] / 2
        self.cart = pymunk.Body(p["cart_mass"], math.inf)  # slides, never rotates
        self.pole = pymunk.Body(p["pole_mass"], pymunk.moment_for_segment(p["pole_mass"], (0, -half), (0, half), 0))
        x, v, theta, omega = rng.uniform(-RESET_NOISE, RESET_NOISE, size=4)
        self.cart.position = (x, 0.0)
        self.cart.velocity = (v, 0.0)
        rx, ry = -math.sin(theta) * half, math.cos(theta) * half  # hinge -> pole centre
        self.pole.position = (x + rx, ry)
        self.pole.angle = theta
        self.pole.angular_velocity = omega
        self.pole.velocity = (v - omega * ry, omega * rx)
        ground = space.static_body
        space.add(
            self.cart,
            self.pole,
            pymunk.GrooveJoint(ground, self.cart, (-100.0, 0.0), (100.0, 0.0), (0.0, 0.0)),
            pymunk.PivotJoint(self.cart, self.pole, (0.0, 0.0), (0.0, -half)),
        )
        if p["friction"] > 0:
            # A velocity constraint capped at the friction force: Coulomb friction on the track.
            drag = pymunk.PivotJoint(ground, self.cart, (0.0, 0.0), (0.0, 0.0))
            drag.max_bias = 0.0
            drag.max_force = p["friction"] * (p["cart_mass"] + p["pole_mass"]) * p["gravity"]
            space.add(drag)

    def _act(self, action: np.ndarray) -> None:
        self.cart.force = (float(action[0]) * self.params["motor_strength"], 0.0)

    def _observe(self) -> np.ndarray:
        c, pole = self.cart, self.pole
        return np.array([c.position.x, c.velocity.x, wrap_angle(pole.angle), pole.angular_velocity], dtype=np.float32)

    def _outcome(self, action: np.ndarray, obs: np.ndarray) -> tuple[dict[str, float], bool]:
        x, theta = float(obs[0]), float(obs[2])
        terms = {
            "alive": 1.0,
            "upright": 1.0 - (theta / ANGLE_LIMIT) ** 2,
            "centred": -((x / TRACK_LIMIT) ** 2),
            "still": -0.05 * float(obs[1]) ** 2,
            "ctrl": -0.01 * float(action[0]) ** 2,
        }
        return terms, abs(theta) > ANGLE_LIMIT or abs(x) > TRACK_LIMIT

    def _camera(self) -> tuple[float, float, float]:
        """The whole track across; the rail a quarter of the way up; room above for the pole."""
        length = self.params["pole_length"]
        ppm = min(self.FRAME[0] / 6.0, self.FRAME[1] / (length + 1.1))
        return 0.0, -0.16 + 0.25 * self.FRAME[1] / ppm, ppm

    def _draw(self, canvas: Canvas) -> None:
        x = self.cart.position.x
        canvas.ground(-0.16)
        canvas.segment((-TRACK_LIMIT - 0.25, -0.16), (TRACK_LIMIT + 0.25, -0.16), 0.015, DARK)
        for edge in (-TRACK_LIMIT, TRACK_LIMIT):
            canvas.segment((edge, -0.16), (edge, -0.04), 0.012, RED)
        force = float(self.last_action[0])
        if force:
            canvas.segment((x, 0.0), (x + 0.6 * force, 0.0), 0.03, FORCE)
        canvas.polygon([(x - 0.25, -0.12), (x + 0.25, -0.12), (x + 0.25, 0.12), (x - 0.25, 0.12)], BODY)
        tip = self.pole.local_to_world((0.0, self.params["pole_length"] / 2))
        canvas.segment((x, 0.0), (tip.x, tip.y), 0.035, RED)
        canvas.circle((x, 0.0), 0.04, DARK)
