"""``simrl/BipedStand-v0``: a 2-D humanoid without arms that must keep standing; and the biped itself.

:class:`Biped` builds the body (torso with head, two legs; optionally arms) into a pymunk space from a
pose, and applies joint torques. :class:`BipedStand` puts it on flat ground with feet;
``simrl/BallBalance-v0`` (ballbot.py) puts it on a plank on a ball.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from simrl.envs.params import Param, ParamSpace
from simrl.envs.planar.base import BODY, BODY_FAR, HEAD, Canvas, PlanarEnv, body_state, wrap_angle

# Shape radii and fixed geometry (m).
TORSO_R, THIGH_R, SHIN_R, ARM_R, FOOT_R, HEAD_R = 0.07, 0.05, 0.04, 0.035, 0.03, 0.1
HEEL, TOE = 0.06, 0.16  # foot extent behind and ahead of the ankle
ARM_LENGTH = 0.55
HEAD_SHARE, FOOT_SHARE = 0.15, 0.2  # of the torso's and the shin's mass
ANKLE_SHARE = 0.5  # an ankle's strength, of motor_strength
JOINT_DAMPING = 1.0  # N m s/rad, on every joint
CONTACT_TOLERANCE = 0.005  # m: a foot this close to the ground counts as touching it
# Relative angle limits (child angle - parent angle, rad). Hips flex forward (+), knees bend back (-).
HIP_RANGE, KNEE_RANGE, ANKLE_RANGE, SHOULDER_RANGE = (-0.6, 2.2), (-2.4, 0.0), (-0.8, 0.8), (-1.2, 3.0)

# The biped's parameters, shared by both biped tasks.
BIPED_PARAMS = (
    Param("torso_mass", 10.0, 2.0, 40.0, "kg", "torso and head"),
    Param("thigh_mass", 4.0, 0.5, 15.0, "kg", "each thigh"),
    Param("shin_mass", 3.0, 0.5, 12.0, "kg", "each shin with its foot"),
    Param("torso_length", 0.5, 0.2, 1.0, "m", "hip to neck"),
    Param("thigh_length", 0.45, 0.2, 0.8, "m", "hip to knee"),
    Param("shin_length", 0.45, 0.2, 0.8, "m", "knee to ankle"),
    Param("motor_strength", 100.0, 10.0, 400.0, "N m", "hip and knee torque at action 1"),
    Param("gravity", 9.81, 0.0, 20.0, "m/s^2", "gravitational acceleration"),
)


def rotate(v: tuple[float, float], angle: float) -> tuple[float, float]:
    c, s = math.cos(angle), math.sin(angle)
    return v[0] * c - v[1] * s, v[0] * s + v[1] * c


def add(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    return a[0] + b[0], a[1] + b[1]


@dataclass
class Joint:
    """A motorised hinge: ``torque = action * strength`` on the child, its opposite on the parent."""

    name: str
    parent: Any
    child: Any
    strength: float

    @property
    def angle(self) -> float:
        return wrap_angle(self.child.angle - self.parent.angle)

    @property
    def speed(self) -> float:
        """The hinge's angular speed (rad/s)."""
        return abs(self.child.angular_velocity - self.parent.angular_velocity)


UPRIGHT = math.radians(20.0)  # metric_upright: the torso within this of vertical


def posture(torso_angle: float, joints: list[Joint]) -> dict[str, float]:
    """The posture measures both bipeds report: ``upright`` (1 while the torso is within 20 degrees of
    vertical) and ``joint_speed`` (the hinges' mean angular speed, rad/s)."""
    return {
        "upright": float(abs(torso_angle) < UPRIGHT),
        "joint_speed": sum(j.speed for j in joints) / len(joints),
    }


class Biped:
    """A torso with a head, two legs (thigh, shin), optionally feet and two arms, as pymunk bodies.

    The legs lie in the same plane; "left" is drawn in front. Body origins are segment midpoints;
    each segment's local axis points from its lower end (0, -L/2) to its upper end (0, L/2). Feet are
    rigid parts of the shins, or with ``ankles`` bodies of their own (origin at the ankle) on
    motorised ankles.
    """

    def __init__(self, p: Any, *, feet: bool, arms: bool, ankles: bool = False, group: int = 1) -> None:
        import pymunk

        if ankles and not feet:
            raise ValueError("ankles need feet")
        self.p = p
        self.feet, self.arms, self.ankles = feet, arms, ankles
        self.filter = pymunk.ShapeFilter(group=group)
        self.bodies: dict[str, Any] = {}
        self.shapes: dict[str, Any] = {}
        self.joints: list[Joint] = []

    # --------------------------------------------------------------------------------- building

    def _segment_body(self, space: Any, name: str, length: float, mass: float, radius: float) -> Any:
        import pymunk

        body = pymunk.Body()
        shape = pymunk.Segment(body, (0, -length / 2), (0, length / 2), radius)
        shape.mass = mass
        self.bodies[name], self.shapes[name] = body, shape
        shape.filter = self.filter
        shape.friction = 1.0
        space.add(body, shape)
        return body

    def build(
        self, space: Any, hip: tuple[float, float], torso_angle: float, legs: dict[str, tuple[float, float]]
    ) -> None:
        """Add the biped to ``space`` with the hip at ``hip``, given the torso's angle and, for each leg
        ("l", "r"), its (hip, knee) joint angles. Everything starts at rest."""
        import pymunk

        p = self.p
        lt, lth, ls = p["torso_length"], p["thigh_length"], p["shin_length"]
        torso = self._segment_body(space, "torso", lt, p["torso_mass"] * (1 - HEAD_SHARE), TORSO_R)
        head = pymunk.Circle(torso, HEAD_R, (0, lt / 2 + HEAD_R))
        head.mass, head.filter, head.friction = p["torso_mass"] * HEAD_SHARE, self.filter, 1.0
        space.add(head)
        self.shapes["head"] = head
        torso.angle = torso_angle
        torso.position = add(hip, rotate((0, lt / 2), torso_angle))
        strength = p["motor_strength"]
        for side in ("l", "r"):
            q_hip, q_knee = legs[side]
            thigh = self._segment_body(space, f"thigh_{side}", lth, p["thigh_mass"], THIGH_R)
            shin_mass = p["shin_mass"] * (1 - FOOT_SHARE if self.feet else 1)
            shin = self._segment_body(space, f"shin_{side}", ls, shin_mass, SHIN_R)
            a_thigh = torso_angle + q_hip
            a_shin = a_thigh + q_knee
            knee = add(hip, rotate((0, -lth), a_thigh))
            thigh.angle, thigh.position = a_thigh, add(hip, rotate((0, -lth / 2), a_thigh))
            shin.angle, shin.position = a_shin, add(knee, rotate((0, -ls / 2), a_shin))
            if self.ankles:  # (ankles imply feet)
                self._ankle(space, side, shin)
            elif self.feet:
                foot = pymunk.Segment(shin, (-HEEL, -ls / 2), (TOE, -ls / 2), FOOT_R)
                foot.mass, foot.filter, foot.friction = p["shin_mass"] * FOOT_SHARE, self.filter, 1.0
                space.add(foot)
                self.shapes[f"foot_{side}"] = foot
            space.add(
                pymunk.PivotJoint(torso, thigh, (0, -lt / 2), (0, lth / 2)),
                pymunk.RotaryLimitJoint(torso, thigh, *HIP_RANGE),
                pymunk.PivotJoint(thigh, shin, (0, -lth / 2), (0, ls / 2)),
                pymunk.RotaryLimitJoint(thigh, shin, *KNEE_RANGE),
            )
            self.joints += [Joint(f"hip_{side}", torso, thigh, strength), Joint(f"knee_{side}", thigh, shin, strength)]
        if self.ankles:
            b = self.bodies
            self.joints += [
                Joint(f"ankle_{side}", b[f"shin_{side}"], b[f"foot_{side}"], ANKLE_SHARE * strength) for side in "lr"
            ]
        if self.arms:
            for side in ("l", "r"):
                arm = self._segment_body(space, f"arm_{side}", ARM_LENGTH, 2.0, ARM_R)
                shoulder = add(hip, rotate((0, lt - 0.05), torso_angle))
                arm.angle, arm.position = torso_angle, add(shoulder, rotate((0, -ARM_LENGTH / 2), torso_angle))
                space.add(
                    pymunk.PivotJoint(torso, arm, (0, lt / 2 - 0.05), (0, ARM_LENGTH / 2)),
                    pymunk.RotaryLimitJoint(torso, arm, *SHOULDER_RANGE),
                )

    def _ankle(self, space: Any, side: str, shin: Any) -> None:
        """A foot body hinged to the shin's lower end, square to the shin, its ankle limited to ANKLE_RANGE."""
        import pymunk

        foot = pymunk.Body()
        shape = pymunk.Segment(foot, (-HEEL, 0), (TOE, 0), FOOT_R)
        shape.mass, shape.filter, shape.friction = self.p["shin_mass"] * FOOT_SHARE, self.filter, 1.0
        ankle = (0, -self.p["shin_length"] / 2)
        foot.angle, foot.position = shin.angle, shin.local_to_world(ankle)
        space.add(
            foot,
            shape,
            pymunk.PivotJoint(shin, foot, ankle, (0, 0)),
            pymunk.RotaryLimitJoint(shin, foot, *ANKLE_RANGE),
        )
        self.bodies[f"foot_{side}"], self.shapes[f"foot_{side}"] = foot, shape

    def leg_points(self, hip: tuple[float, float], torso_angle: float, q: tuple[float, float]) -> dict[str, Any]:
        """Knee, ankle, heel and toe of a leg with joint angles ``q`` hanging from ``hip`` (no building)."""
        a_thigh = torso_angle + q[0]
        a_shin = a_thigh + q[1]
        knee = add(hip, rotate((0, -self.p["thigh_length"]), a_thigh))
        ankle = add(knee, rotate((0, -self.p["shin_length"]), a_shin))
        return {
            "knee": knee,
            "ankle": ankle,
            "heel": add(ankle, rotate((-HEEL, 0), a_shin)),
            "toe": add(ankle, rotate((TOE, 0), a_shin)),
            "shin_angle": a_shin,
        }

    # -------------------------------------------------------------------------------- actuation

    def actuate(self, joints: list[Joint], action: np.ndarray) -> None:
        """Set the torques of the joints' bodies from their motors (``action`` in [-1, 1]) and damping.

        pymunk clears every body's torque after a step, so this runs before each substep.
        """
        torques: dict[Any, float] = {}
        for j, a in zip(joints, action.tolist(), strict=True):
            tau = a * j.strength - JOINT_DAMPING * (j.child.angular_velocity - j.parent.angular_velocity)
            torques[j.child] = torques.get(j.child, 0.0) + tau
            torques[j.parent] = torques.get(j.parent, 0.0) - tau
        for body, tau in torques.items():
            body.torque = tau

    # ------------------------------------------------------------------------------ observation

    def head_position(self) -> tuple[float, float]:
        p = self.bodies["torso"].local_to_world((0, self.p["torso_length"] / 2 + HEAD_R))
        return p.x, p.y

    # ---------------------------------------------------------------------------------- drawing

    def draw(self, canvas: Canvas) -> None:
        def seg(name: str, colour) -> None:
            shape = self.shapes[name]
            body = shape.body
            a, b = body.local_to_world(shape.a), body.local_to_world(shape.b)
            canvas.segment(a, b, shape.radius, colour)

        order = ["r", "l"]  # the far (right) limbs first
        for side, colour in zip(order, (BODY_FAR, BODY), strict=True):
            if self.arms and side == "r":
                seg("arm_r", colour)
            seg(f"thigh_{side}", colour)
            seg(f"shin_{side}", colour)
            if self.feet:
                seg(f"foot_{side}", colour)
        seg("torso", BODY)
        head = self.shapes["head"]
        canvas.circle(head.body.local_to_world(head.offset), HEAD_R, HEAD)
        if self.arms:
            seg("arm_l", HEAD)


class BipedStand(PlanarEnv):
    """A 2-D humanoid without arms, torso and two legs, standing on flat ground: keep it standing.

    ## Description

    Five rigid bodies: a torso carrying a head, and two legs of a thigh and a shin each, the shin
    ending in a rigid foot (no ankle). Four motorised hinges: the hips and the knees, each with
    limits (hips -0.6 to 2.2 rad, forward positive; knees -2.4 to 0 rad, they bend backwards) and
    1 N m s/rad of damping. The legs lie in the same plane (the left one is drawn in front) and do
    not collide with each other. The biped starts upright and at rest on the ground.

    ## Action space

    ``Box(-1, 1, (4,), float32)``: joint torques as fractions of ``motor_strength``, in the order
    left hip, left knee, right hip, right knee. Positive opens the joint's angle (hip: the thigh
    swings forward; knee: the shin swings forward, straightening the leg).

    ## Observation space

    ``Box(-inf, inf, (36,), float32)``:

    | index | observation |
    |---|---|
    | 0-5 | torso: x (m, from the start), y (m), angle (rad, 0 upright, counter-clockwise), vx, vy (m/s), |
    |     | angular velocity (rad/s) |
    | 6-11 | left thigh: x relative to the torso, y, angle, vx, vy, angular velocity |
    | 12-17 | left shin (with foot): the same |
    | 18-23 | right thigh: the same |
    | 24-29 | right shin (with foot): the same |
    | 30-33 | joint angles (rad): left hip, left knee, right hip, right knee |
    | 34-35 | foot contacts with the ground (1 or 0): left, right |

    ## Rewards

    - ``reward="shaped"`` (default): the sum of ``alive`` = 1, ``upright`` = cos(torso angle),
      ``height`` = the head's height between the fallen threshold (0) and standing straight (1),
      clipped to [0, 1], and ``ctrl`` = -0.1 mean(action^2). At most 3 per step.
    - ``reward="alive"``: 1 per step until the episode ends, as the original task (the learned
      postures were odd: nothing asks for a straight body).

    ``info`` holds each term as ``reward_<name>``; they sum to the reward.

    ## Measures

    ``info`` also holds the posture as ``metric_<name>`` each step (evaluation averages them over an
    episode): ``both_feet_down`` (1 while both feet touch the ground), ``torso_drift`` (m, how far the
    torso's centre has moved along x from where the episode started), ``upright`` (1 while the torso
    is within 20 degrees of vertical) and ``joint_speed`` (the four hinges' mean angular speed, rad/s).

    ## Starting state

    Standing straight with the torso's angle and the four joint angles each perturbed by
    U(-0.05, 0.05) rad, lowered until the lowest foot point touches the ground, at rest.

    ## Episode end

    Terminates when the torso's centre drops below 0.7 of its standing height (a fall or a deep
    crouch); ``gymnasium.make`` truncates after 500 steps (10 s).

    ## Physics

    50 control steps per second (``DT`` = 0.02 s), each 4 pymunk substeps; foot-ground friction
    coefficient ``friction``.

    ## Arguments

    - ``render_mode``: ``None``, ``"rgb_array"`` (320x480x3 uint8, height x width) or ``"human"`` (a window).
    - ``reward``: ``"shaped"`` or ``"alive"``.
    - Simulator parameters (``PARAM_SPACE``; ``simrl envs`` lists defaults and bounds): ``torso_mass``,
      ``thigh_mass``, ``shin_mass`` (kg), ``torso_length``, ``thigh_length``, ``shin_length`` (m),
      ``friction``, ``motor_strength`` (N m at action 1), ``gravity`` (m/s^2). ``set_params`` changes
      them from the next reset.

    ## Version history

    - v0: initial version.
    """

    ENV_ID = "simrl/BipedStand-v0"
    SIZES = (36, 4)
    ANKLES = False  # v1: the feet on motorised ankles
    ACTION_NAMES = ("left hip", "left knee", "right hip", "right knee")
    PPM = 150.0
    FALL_FRACTION = 0.7
    RESET_NOISE = 0.05
    PARAM_SPACE = ParamSpace(
        (*BIPED_PARAMS, Param("friction", 1.0, 0.1, 2.0, "", "friction coefficient of the feet on the ground")),
        env_id="simrl/BipedStand-v0",
    )

    def _standing_heights(self) -> tuple[float, float]:
        """The torso centre's and the head's heights when standing straight."""
        p = self.params
        hip = FOOT_R + p["shin_length"] + p["thigh_length"]
        return hip + p["torso_length"] / 2, hip + p["torso_length"] + HEAD_R

    def _build(self, space: Any, rng: np.random.Generator) -> None:
        import pymunk

        ground = pymunk.Segment(space.static_body, (-50.0, -0.5), (50.0, -0.5), 0.5)
        ground.friction = 1.0
        space.add(ground)
        noise = rng.uniform(-self.RESET_NOISE, self.RESET_NOISE, size=5)
        torso_angle = float(noise[0])
        legs = {"l": (float(noise[1]), float(noise[2])), "r": (float(noise[3]), float(noise[4]))}
        legs = {k: (q[0], min(q[1], 0.0)) for k, q in legs.items()}  # knees cannot over-extend
        self.biped = Biped(self.params, feet=True, arms=False, ankles=self.ANKLES)
        lowest = min(
            min(pt["heel"][1], pt["toe"][1])
            for pt in (self.biped.leg_points((0.0, 0.0), torso_angle, q) for q in legs.values())
        )
        hip = (0.0, FOOT_R - lowest + 1e-4)
        self.biped.build(space, hip, torso_angle, legs)
        for side in ("l", "r"):
            self.biped.shapes[f"foot_{side}"].friction = self.params["friction"]
        names = ("torso", "thigh_l", "shin_l", "thigh_r", "shin_r", *(("foot_l", "foot_r") if self.ANKLES else ()))
        self._order = [self.biped.bodies[n] for n in names]
        self._fall_height = self.FALL_FRACTION * self._standing_heights()[0]
        self._start_x = float(self.biped.bodies["torso"].position.x)
        self._head_low = self._fall_height + self.params["torso_length"] / 2 + HEAD_R

    def _act(self, action: np.ndarray) -> None:
        self.biped.actuate(self.biped.joints, action)

    def _observe(self) -> np.ndarray:
        obs = np.empty(self.SIZES[0], dtype=np.float32)
        torso = body_state(self._order[0])
        obs[0:6] = torso
        for i, body in enumerate(self._order[1:]):
            s = body_state(body)
            obs[6 + 6 * i : 12 + 6 * i] = (s[0] - torso[0], *s[1:])
        joints = 6 * len(self._order)
        obs[joints : joints + len(self.biped.joints)] = [j.angle for j in self.biped.joints]
        obs[-2] = self._touching("foot_l")
        obs[-1] = self._touching("foot_r")
        return obs

    def _touching(self, name: str) -> float:
        """1.0 if the foot is within 5 mm of the (flat) ground. Geometry, not pymunk's arbiters: a
        query per step is cheaper than a collision callback per substep."""
        foot = self.biped.shapes[name]
        lowest = min(foot.body.local_to_world(foot.a).y, foot.body.local_to_world(foot.b).y) - foot.radius
        return float(lowest < CONTACT_TOLERANCE)

    def _outcome(self, action: np.ndarray, obs: np.ndarray) -> tuple[dict[str, float], bool]:
        head_y = self.biped.head_position()[1]
        _, head_stand = self._standing_heights()
        terms = {
            "alive": 1.0,
            "upright": math.cos(float(obs[2])),
            "height": min(max((head_y - self._head_low) / (head_stand - self._head_low), 0.0), 1.0),
            "ctrl": -0.1 * float(np.mean(action * action)),
        }
        return terms, float(obs[1]) < self._fall_height

    def _measures(self, obs: np.ndarray) -> dict[str, float]:
        return {
            "both_feet_down": float(obs[-2] * obs[-1]),
            "torso_drift": abs(float(self.biped.bodies["torso"].position.x) - self._start_x),
            **posture(float(obs[2]), self.biped.joints),
        }

    def _camera(self) -> tuple[float, float, float]:
        _, head = self._standing_heights()
        ppm = min(self.PPM, self.FRAME[1] / (head + 0.45))
        height = self.FRAME[1] / ppm
        return self.biped.bodies["torso"].position.x, height / 2 - 0.2, ppm

    def _draw(self, canvas: Canvas) -> None:
        canvas.ground(0.0)
        self.biped.draw(canvas)


class BipedStandV1(BipedStand):
    """``simrl/BipedStand-v1``: the biped of v0 with ankles, and a shaped reward that asks it to stand still.

    Everything not said here is as in :class:`BipedStand` (v0).

    ## Why

    v0's biped has no ankles, so only its hips and knees can move its weight over its feet. Trained
    on v0, SAC keeps it up by shifting its weight from foot to foot, lifting a leg and stepping:
    both feet down 65-90% of the steps and 0.25-0.4 m of drift (issue 16's runs), and posture terms
    in v0's reward did not make it stand still in every seed. A person stands by pressing the
    ground with the ankles; v1 gives the biped them.

    ## Description

    Seven rigid bodies: v0's five, with each foot a body of its own (20% of ``shin_mass``, as v0's
    foot) hinged to its shin by a motorised ankle (limits -0.8 to 0.8 rad, 1 N m s/rad of damping,
    ``motor_strength`` / 2 at action 1: the ball task's ankles).

    ## Action space

    ``Box(-1, 1, (6,), float32)``: joint torques as fractions of the joint's strength, in the order
    left hip, left knee, right hip, right knee, left ankle, right ankle. Positive opens the joint's
    angle (child minus parent, counter-clockwise: the ankle raises the toes).

    ## Observation space

    ``Box(-inf, inf, (50,), float32)``: 0-41, 6 numbers for each of torso, left thigh, left shin,
    right thigh, right shin, left foot, right foot, as in v0 (the torso's x from the start, every
    other body's relative to the torso); 42-47, the joint angles (rad) in the action order; 48-49,
    the foot contacts with the ground (1 or 0), left, right.

    ## Rewards

    - ``reward="shaped"`` (default): v0's terms (``alive``, ``upright``, ``height``, ``ctrl``) and
      four for the posture: ``pose`` = exp(-(sum of the six joint angles squared) / 0.25 rad^2),
      1 standing straight (every joint at 0, feet flat under straight legs) and 0.37 with one joint
      bent 0.5 rad; ``feet`` = +1 while both feet touch the ground (within 5 mm, as the measure);
      ``drift`` = -2 times the torso's drift along x from its start (m, counted up to 0.5);
      ``still`` = -0.1 times the hinges' mean angular speed (rad/s, counted up to 5). At most 5 per
      step.
    - ``reward="alive"``: 1 per step until the episode ends.

    ``info`` holds each term as ``reward_<name>`` and the measures of v0 as ``metric_<name>``
    (``joint_speed`` over the six hinges).

    ## Version history

    - v1: motorised ankles (6 actions, 50 observations) and the posture terms ``pose``, ``feet``,
      ``drift`` and ``still`` in ``reward="shaped"``. v0 stays registered, unchanged, so its runs resume and
      evaluate as they were.
    - v0: initial version.
    """

    ENV_ID = "simrl/BipedStand-v1"
    SIZES = (50, 6)
    ANKLES = True
    ACTION_NAMES = (*BipedStand.ACTION_NAMES, "left ankle", "right ankle")
    PARAM_SPACE = ParamSpace(BipedStand.PARAM_SPACE.params, env_id=ENV_ID)
    FEET, DRIFT, DRIFT_CAP, STILL, SPEED_CAP = 1.0, 2.0, 0.5, 0.1, 5.0
    POSE_WIDTH = 0.25  # rad^2: the pose term is exp(-1) when the joint angles' squares sum to this

    def _outcome(self, action: np.ndarray, obs: np.ndarray) -> tuple[dict[str, float], bool]:
        terms, terminated = super()._outcome(action, obs)
        m = self._measures(obs)
        q = obs[42:48].astype(np.float64)
        terms["pose"] = math.exp(-float(q @ q) / self.POSE_WIDTH)
        terms["feet"] = self.FEET * m["both_feet_down"]
        terms["drift"] = -self.DRIFT * min(m["torso_drift"], self.DRIFT_CAP)
        terms["still"] = -self.STILL * min(m["joint_speed"], self.SPEED_CAP)
        return terms, terminated
