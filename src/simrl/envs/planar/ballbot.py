"""``simrl/BallBalance-v0``: the biped standing on a plank that rests on a rolling ball."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from simrl.envs.params import Param, ParamSpace
from simrl.envs.planar.base import DARK, RED, WOOD, Canvas, PlanarEnv, body_state
from simrl.envs.planar.biped import ANKLE_RANGE, ANKLE_SHARE, BIPED_PARAMS, HEAD_R, Biped, Joint, add, posture, rotate

PLANK_THICKNESS = 0.05  # m
STANCE = 0.2  # m: each ankle's distance from the plank's centre
PLANK_TIP = 0.6  # rad: the plank has tipped over beyond this
TORSO_TIP = 0.8  # rad: the torso has tipped over beyond this
SHOULDER_SHARE = 0.25  # of motor_strength


class BallBalance(PlanarEnv):
    """The biped on a plank that rests on a ball (a rola-bola): keep everything on top.

    ## Description

    The biped of ``simrl/BipedStand-v0`` with two changes: its shins end in motorised ankles
    pinned to a plank 0.4 m apart (feet strapped to the board, as on a snowboard), and it has two
    arms on motorised shoulders to swing for balance. The plank rests on a ball that rolls on flat
    ground; the ball rubs on the ground and on the plank with the ``friction`` coefficient. The
    legs start straight, splayed so that the hips meet above the plank's centre, everything level
    and at rest; the task is unstable from the first step.

    ## Action space

    ``Box(-1, 1, (8,), float32)``: joint torques as fractions of the joint's strength, in the order
    left hip, left knee, right hip, right knee (``motor_strength`` each, as in BipedStand-v0),
    left ankle, right ankle (half of it), left shoulder, right shoulder (a quarter of it).
    Positive opens the joint's angle (child minus parent, counter-clockwise).

    ## Observation space

    ``Box(-inf, inf, (62,), float32)``: 6 numbers per body, x (m; the ball's from the start, every
    other body's relative to the ball), y (m), angle (rad, counter-clockwise, wrapped to [-pi, pi)),
    vx, vy (m/s), angular velocity (rad/s), for

    | index | body |
    |---|---|
    | 0-5 | torso |
    | 6-11, 12-17 | left thigh, left shin |
    | 18-23, 24-29 | right thigh, right shin |
    | 30-35, 36-41 | left arm, right arm |
    | 42-47 | plank |
    | 48-53 | ball |

    then 54-61, the joint angles (rad) in the action order.

    ## Rewards

    - ``reward="shaped"`` (default): the sum of ``alive`` = 1, ``upright`` = cos(torso angle),
      ``height`` = the head's height above the plank as a fraction of standing straight (clipped to
      [0, 1]) and ``ctrl`` = -0.1 mean(action^2). At most 3 per step.
    - ``reward="alive"``: 1 per step until the episode ends, as the original task (whose biped
      learned to sit down to balance).

    ``info`` holds each term as ``reward_<name>``; they sum to the reward.

    ## Measures

    ``info`` also holds the posture as ``metric_<name>`` each step (evaluation averages them over an
    episode): ``upright`` (1 while the torso is within 20 degrees of vertical), ``ball_drift`` (m, how
    far the ball has rolled from where the episode started) and ``joint_speed`` (the eight hinges'
    mean angular speed, rad/s).

    ## Starting state

    The ball at x = 0 with the level plank centred on it, the biped as described; the ball's x
    and the plank's angle perturbed by U(-0.01, 0.01) (m, rad), the biped's joint angles by
    U(-0.02, 0.02) rad; at rest.

    ## Episode end

    Terminates when the plank tips past 0.6 rad, the torso past 0.8 rad, the torso's centre or the
    ball's centre leaves the plank's span (measured along the plank); ``gymnasium.make`` truncates
    after 500 steps (10 s).

    ## Physics

    50 control steps per second (``DT`` = 0.02 s), each 6 pymunk substeps.

    ## Arguments

    - ``render_mode``: ``None``, ``"rgb_array"`` (320x480x3 uint8, height x width) or ``"human"`` (a window).
    - ``reward``: ``"shaped"`` or ``"alive"``.
    - Simulator parameters (``PARAM_SPACE``): the biped's (``torso_mass``, ``thigh_mass``,
      ``shin_mass``, ``torso_length``, ``thigh_length``, ``shin_length``, ``motor_strength``,
      ``gravity``), ``plank_mass`` (kg), ``plank_length`` (m), ``ball_mass`` (kg), ``ball_radius`` (m)
      and ``friction`` (ball on ground and on plank). ``set_params`` changes them from the next reset.

    ## Version history

    - v0: initial version.
    """

    ENV_ID = "simrl/BallBalance-v0"
    SIZES = (62, 8)
    ACTION_NAMES = (
        *("left hip", "left knee", "right hip", "right knee"),
        *("left ankle", "right ankle", "left shoulder", "right shoulder"),
    )
    SUBSTEPS = 6
    PPM = 120.0
    PARAM_SPACE = ParamSpace(
        (
            *BIPED_PARAMS,
            Param("plank_mass", 3.0, 0.5, 15.0, "kg", "the plank"),
            Param("plank_length", 1.0, 0.6, 2.0, "m", "the plank, end to end"),
            Param("ball_mass", 3.0, 0.5, 20.0, "kg", "the ball, a uniform disc"),
            Param("ball_radius", 0.3, 0.1, 0.6, "m", "the ball"),
            Param("friction", 1.0, 0.1, 2.0, "", "friction coefficient of the ball on the ground and on the plank"),
        ),
        env_id="simrl/BallBalance-v0",
    )

    def _build(self, space: Any, rng: np.random.Generator) -> None:
        import pymunk

        p = self.params
        r, half = p["ball_radius"], p["plank_length"] / 2
        ground = pymunk.Segment(space.static_body, (-50.0, -0.5), (50.0, -0.5), 0.5)
        ground.friction = p["friction"]
        x0, tilt = rng.uniform(-0.01, 0.01, size=2)
        ball = pymunk.Body(p["ball_mass"], pymunk.moment_for_circle(p["ball_mass"], 0, r))
        ball.position = (x0, r)
        ball_shape = pymunk.Circle(ball, r)
        ball_shape.friction = p["friction"]
        plank = pymunk.Body()
        plank_shape = pymunk.Poly.create_box(plank, (2 * half, PLANK_THICKNESS), radius=0.0)
        plank_shape.mass, plank_shape.friction = p["plank_mass"], p["friction"]
        plank_shape.filter = pymunk.ShapeFilter(group=1)  # the biped's group: they do not collide
        plank.angle = tilt
        plank.position = add((x0, 2 * r), rotate((0.0, PLANK_THICKNESS / 2), tilt))
        space.add(ground, ball, ball_shape, plank, plank_shape)
        self.ball, self.plank = ball, plank
        self._start_x = float(x0)

        # Legs straight, splayed so that both ankles sit on the plank STANCE from its centre.
        leg = p["thigh_length"] + p["shin_length"]
        splay = math.asin(STANCE / leg)
        noise = rng.uniform(-0.02, 0.02, size=5)
        legs = {"l": (splay + noise[1], min(noise[2], 0.0)), "r": (-splay + noise[3], min(noise[4], 0.0))}
        top = plank.local_to_world((0.0, PLANK_THICKNESS / 2))
        hip = (top.x, top.y + leg * math.cos(splay))
        self.biped = Biped(p, feet=False, arms=True)
        self.biped.build(space, hip, float(noise[0]), legs)
        b = self.biped.bodies
        ankles = []
        for side, sign in (("l", 1.0), ("r", -1.0)):
            shin = b[f"shin_{side}"]
            anchor = (sign * STANCE, PLANK_THICKNESS / 2)
            space.add(
                pymunk.PivotJoint(plank, shin, anchor, (0.0, -p["shin_length"] / 2)),
                pymunk.RotaryLimitJoint(plank, shin, *ANKLE_RANGE),
            )
            ankles.append(Joint(f"ankle_{side}", plank, shin, ANKLE_SHARE * p["motor_strength"]))
        shoulders = [
            Joint(f"shoulder_{side}", b["torso"], b[f"arm_{side}"], SHOULDER_SHARE * p["motor_strength"])
            for side in ("l", "r")
        ]
        self.joints = [*self.biped.joints, *ankles, *shoulders]
        names = ("torso", "thigh_l", "shin_l", "thigh_r", "shin_r", "arm_l", "arm_r")
        self._order = [b[n] for n in names] + [plank, ball]
        self._head_stand = leg * math.cos(splay) + p["torso_length"] + HEAD_R + PLANK_THICKNESS / 2
        self._stance = np.array([j.angle for j in self.joints[:6]])  # the legs' joint angles at the start

    def _act(self, action: np.ndarray) -> None:
        self.biped.actuate(self.joints, action)

    def _observe(self) -> np.ndarray:
        obs = np.empty(self.SIZES[0], dtype=np.float32)
        ball = body_state(self.ball)
        for i, body in enumerate(self._order):
            s = body_state(body)
            obs[6 * i : 6 * i + 6] = (s[0] - ball[0], *s[1:]) if body is not self.ball else s
        obs[54:62] = [j.angle for j in self.joints]
        return obs

    def _along_plank(self, point: Any) -> float:
        """Distance of ``point`` from the plank's centre, measured along the plank."""
        return self.plank.world_to_local(point).x

    def _outcome(self, action: np.ndarray, obs: np.ndarray) -> tuple[dict[str, float], bool]:
        half = self.params["plank_length"] / 2
        torso_angle, plank_angle = float(obs[2]), float(obs[44])
        head_above = self.biped.head_position()[1] - self.plank.position.y
        terms = {
            "alive": 1.0,
            "upright": math.cos(torso_angle),
            "height": min(max(head_above / self._head_stand, 0.0), 1.0),
            "ctrl": -0.1 * float(np.mean(action * action)),
        }
        terminated = (
            abs(plank_angle) > PLANK_TIP
            or abs(torso_angle) > TORSO_TIP
            or abs(self._along_plank(self.biped.bodies["torso"].position)) > half
            or abs(self._along_plank(self.ball.position)) > half
        )
        return terms, terminated

    def _measures(self, obs: np.ndarray) -> dict[str, float]:
        return {
            "ball_drift": abs(float(self.ball.position.x) - self._start_x),
            **posture(float(obs[2]), self.joints),
        }

    def _camera(self) -> tuple[float, float, float]:
        p = self.params
        top = 2 * p["ball_radius"] + p["thigh_length"] + p["shin_length"] + p["torso_length"] + 2 * HEAD_R + 0.1
        ppm = min(self.PPM, self.FRAME[1] / (top + 0.3))
        return self.ball.position.x, self.FRAME[1] / ppm / 2 - 0.15, ppm

    def _draw(self, canvas: Canvas) -> None:
        canvas.ground(0.0)
        r = self.params["ball_radius"]
        canvas.circle(self.ball.position, r, RED)
        spoke = self.ball.local_to_world((0.0, 0.8 * r))
        canvas.segment(self.ball.position, spoke, 0.02, DARK)
        shape = next(iter(self.plank.shapes))
        canvas.polygon([self.plank.local_to_world(v) for v in shape.get_vertices()], WOOD)
        self.biped.draw(canvas)


class BallBalanceV1(BallBalance):
    """``simrl/BallBalance-v1``: v0's task, with a shaped reward that asks the rider to stay where it
    started, in its stance, and still.

    Everything not said here is as in :class:`BallBalance` (v0).

    ## Why

    Trained on v0's reward, PPO and SAC learned to balance, but a share of their episodes ended with
    the ball rolled a metre to one side and the plank tipped past 0.6 rad: v0 pays the same for a
    rider drifting away on the ball as for one in place, until the drift is past saving (issue 16).

    ## Rewards

    - ``reward="shaped"`` (default): v0's terms (``alive``, ``upright``, ``height``, ``ctrl``) and
      three more: ``pose`` = exp(-(sum over hips, knees and ankles of (angle - its start angle)^2) /
      0.25 rad^2), 1 in the starting stance; ``drift`` = -2 times the ball's distance from where it
      started (m, counted up to 0.5); ``still`` = -0.1 times the hinges' mean angular speed (rad/s,
      counted up to 5). At most 4 per step.
    - ``reward="alive"``: 1 per step until the episode ends.

    ``info`` holds each term as ``reward_<name>`` and v0's measures as ``metric_<name>``.

    ## Version history

    - v1: the terms ``pose``, ``drift`` and ``still`` in ``reward="shaped"``; the dynamics,
      observations, actions and ends are v0's. v0 stays registered, unchanged, so its runs resume and
      evaluate as they were.
    - v0: initial version.
    """

    ENV_ID = "simrl/BallBalance-v1"
    PARAM_SPACE = ParamSpace(BallBalance.PARAM_SPACE.params, env_id=ENV_ID)
    DRIFT, DRIFT_CAP, STILL, SPEED_CAP = 2.0, 0.5, 0.1, 5.0
    POSE_WIDTH = 0.25  # rad^2, as BipedStand-v1's

    def _outcome(self, action: np.ndarray, obs: np.ndarray) -> tuple[dict[str, float], bool]:
        terms, terminated = super()._outcome(action, obs)
        m = self._measures(obs)
        q = obs[54:60].astype(np.float64) - self._stance
        terms["pose"] = math.exp(-float(q @ q) / self.POSE_WIDTH)
        terms["drift"] = -self.DRIFT * min(m["ball_drift"], self.DRIFT_CAP)
        terms["still"] = -self.STILL * min(m["joint_speed"], self.SPEED_CAP)
        return terms, terminated
