"""``simrl/Obstacles-v0``: a point robot in a square that must reach a goal around rectangular obstacles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from simrl.envs.params import Param, Params, ParamSpace
from simrl.envs.window import Window
from simrl.errors import EnvError

ENV_ID = "simrl/Obstacles-v0"
BOUNDARY = 0.99  # the robot stays strictly inside (-0.99, 0.99) on both axes
GOAL = (0.7, -0.8)
START = (-0.5, 0.75)  # the start when random_starts=False
# Random starts: uniform in this box (x low, y low), (x high, y high), redrawn until valid.
START_LOW, START_HIGH = (-BOUNDARY, -BOUNDARY + 1.25), (BOUNDARY - 0.4, BOUNDARY)
# Rectangles as (left, top, width, height); the robot may not stand strictly inside one.
OBSTACLES = (
    (-0.4, 0.8, 0.4, 0.3),
    (-0.9, 0.3, 0.2, 0.6),
    (0.6, -0.1, 0.12, 0.4),
    (-0.1, 0.2, 0.15, 0.4),
    (0.1, -0.7, 0.3, 0.15),
)

PARAM_SPACE = ParamSpace(
    (
        Param("step_size", 0.1, 0.01, 0.5, "", "displacement per step at action 1, per axis"),
        Param("action_noise", 0.0, 0.0, 1.0, "", "std of Gaussian noise added to the clipped action"),
        Param("goal_radius", 0.1, 0.01, 0.5, "", "the episode ends closer than this to the goal"),
    ),
    env_id=ENV_ID,
)


def is_free(x: float, y: float) -> bool:
    """Whether the robot may stand at ``(x, y)``: strictly inside the walls and outside every obstacle."""
    if not (-BOUNDARY < x < BOUNDARY and -BOUNDARY < y < BOUNDARY):
        return False
    return not any(left < x < left + w and top - h < y < top for left, top, w, h in OBSTACLES)


def outcome(obs: np.ndarray, goal_radius: float) -> tuple[float, bool]:
    """The reward and termination of an observation after a step (``simrl.envs.fns`` is the batched twin)."""
    dist = float(np.hypot(float(obs[0]) - float(obs[2]), float(obs[1]) - float(obs[3])))
    outside = bool(np.any(np.abs(obs[:2]) > np.float32(BOUNDARY)))
    return -dist, dist < goal_radius or outside


class Obstacles(gym.Env[np.ndarray, np.ndarray]):
    """A point robot in a 2-D square moves towards a goal around five rectangular obstacles.

    ## Description

    The "obstacles-cs285-v0" task of Berkeley's CS285 homework 4 (model-based RL, fall 2020),
    rewritten for Gymnasium with the same geometry, moves, reward and termination. The robot is a
    point in the square (-0.99, 0.99)^2; each step moves it by the action times ``step_size``, unless
    the new position would lie outside the square or strictly inside an obstacle: then it stays
    where it is (only the end point of a move is checked, so a diagonal move may cut a corner).
    The goal is fixed at (0.7, -0.8), below and right of most obstacles.

    The obstacles, as (left, top, width, height): (-0.4, 0.8, 0.4, 0.3), (-0.9, 0.3, 0.2, 0.6),
    (0.6, -0.1, 0.12, 0.4), (-0.1, 0.2, 0.15, 0.4) and (0.1, -0.7, 0.3, 0.15).

    ## Action space

    ``Box(-0.99, 0.99, (2,), float32)``: the move along x and y as a fraction of ``step_size``.
    Values are clipped to [-1, 1] (the original's clip: the space is a little narrower).

    ## Observation space

    ``Box(-inf, inf, (4,), float32)``:

    | index | observation |
    |---|---|
    | 0 | robot x |
    | 1 | robot y |
    | 2 | goal x (0.7) |
    | 3 | goal y (-0.8) |

    ## Rewards

    ``dist`` = minus the Euclidean distance from the robot to the goal after the step (computed
    from the float32 observation). ``info`` holds it as ``reward_dist``. Over the original's
    100-step episodes a good planner returns about -25 to -20 (the homework's target for MPC on a
    learned model; random shooting on the true dynamics, 2000 sequences of 15 steps, averaged -20.5
    over 10 random starts here).

    ## Starting state

    With ``random_starts=True`` (default) uniform in x in [-0.99, 0.59], y in [0.26, 0.99] (the
    upper left), drawn again until the point is free. With ``random_starts=False`` at ``start``
    (default (-0.5, 0.75)). ``reset(options={"start": (x, y)})`` starts at a given free point.

    ## Episode end

    Terminates when the robot is closer than ``goal_radius`` (0.1) to the goal (or outside the
    square, which no move can reach). Hitting an obstacle or a wall does not end the episode: the
    robot just does not move. ``gymnasium.make`` truncates after 100 steps, the homework's episode
    length (its gym registration said 500, but its script always ran obstacles with 100).

    ## Arguments

    - ``render_mode``: ``None``, ``"rgb_array"`` (400x400x3 uint8: walls, obstacles, goal, the robot
      and its trail since the reset) or ``"human"`` (a window).
    - ``random_starts``: ``True`` or ``False`` (start at ``start``).
    - ``start``: the fixed start ``(x, y)``, a free point.
    - Simulator parameters (``PARAM_SPACE``; ``simrl envs`` lists the bounds): ``step_size`` (0.1,
      the original's scaling of the action), ``action_noise`` (0: the std of Gaussian noise added to
      the clipped action, in action units), ``goal_radius`` (0.1, the original's ``eps``).
      ``set_params`` changes them from the next step.

    ## Version history

    - v0: initial version.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": 20}
    ENV_ID = ENV_ID
    PARAM_SPACE = PARAM_SPACE
    FRAME = (400, 400)
    KEYS: ClassVar[tuple[tuple[str, str], ...]] = (("right", "left"), ("up", "down"))
    ACTION_NAMES = ("move along x", "move along y")

    def __init__(
        self,
        render_mode: str | None = None,
        random_starts: bool = True,
        start: Sequence[float] = START,
        step_size: float = 0.1,
        action_noise: float = 0.0,
        goal_radius: float = 0.1,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvError(f"unknown render mode '{render_mode}' for {ENV_ID}", "use 'rgb_array' or 'human'")
        self.render_mode = render_mode
        self.random_starts = bool(random_starts)
        self.start = self._free_point(start, "start")
        self.goal = np.array(GOAL, dtype=np.float64)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.action_space = gym.spaces.Box(-BOUNDARY, BOUNDARY, (2,), np.float32)
        self.params: Params = PARAM_SPACE.make(
            {"step_size": step_size, "action_noise": action_noise, "goal_radius": goal_radius}
        )
        self.position: np.ndarray | None = None
        self.trail: list[tuple[float, float]] = []
        self.window = Window(ENV_ID, self.metadata["render_fps"])

    @staticmethod
    def _free_point(point: Any, what: str) -> np.ndarray:
        try:
            p = np.asarray(point, dtype=np.float64).reshape(2)
        except (TypeError, ValueError):
            raise EnvError(f"{what} for {ENV_ID} must be a point (x, y), got {point!r}") from None
        if not is_free(*p):
            raise EnvError(
                f"{what} {tuple(p.tolist())} for {ENV_ID} is not free", "inside (-0.99, 0.99)^2 and outside obstacles"
            )
        return p

    def set_params(self, values: Mapping[str, float] | Sequence[float] | np.ndarray) -> Params:
        """Set the simulator parameters; they act from the next step.

        Args:
            values: a vector in ``PARAM_SPACE`` order, or a mapping of some names to values (the
                others keep their current values).

        Raises:
            EnvError: an unknown name, a value outside its bounds, a vector of the wrong length.
        """
        self.params = PARAM_SPACE.updated(self.params, values)
        return self.params

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "start" in options:
            self.position = self._free_point(options["start"], "reset option start")
        elif self.random_starts:
            while True:
                p = self.np_random.uniform(START_LOW, START_HIGH)
                if is_free(*p):
                    break
            self.position = p
        else:
            self.position = self.start.copy()
        self.trail = [tuple(self.position)]
        if self.render_mode == "human":
            self.render()
        return self._obs(), {}

    def step(self, action: np.ndarray):
        if self.position is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        a = np.asarray(action, dtype=np.float64).reshape(2)
        a = np.clip(np.nan_to_num(a, nan=0.0), -1.0, 1.0)
        if self.params["action_noise"] > 0:
            a = a + self.params["action_noise"] * self.np_random.standard_normal(2)
        moved = self.position + self.params["step_size"] * a
        if is_free(*moved):
            self.position = moved
        self.trail.append(tuple(self.position))
        obs = self._obs()
        reward, terminated = outcome(obs, self.params["goal_radius"])
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, {"reward_dist": reward}

    def _obs(self) -> np.ndarray:
        return np.concatenate([self.position, self.goal]).astype(np.float32)

    # -------------------------------------------------------------------------------- rendering

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn(f"render() needs a render_mode, e.g. gymnasium.make('{ENV_ID}', render_mode='rgb_array')")
            return None
        if self.position is None:
            raise gym.error.ResetNeeded("call reset() before render()")
        frame = self._draw()
        if self.render_mode == "rgb_array":
            return frame
        self.window.show(frame)
        return None

    def _draw(self) -> np.ndarray:
        from simrl.envs.planar.base import BODY, DARK, RED, Canvas

        canvas = Canvas(self.FRAME, (0.0, 0.0), self.FRAME[0] / 2.1)
        b = BOUNDARY
        corners = [(-b, -b), (b, -b), (b, b), (-b, b)]
        for i in range(4):
            canvas.segment(corners[i], corners[(i + 1) % 4], 0.008, DARK)
        for left, top, w, h in OBSTACLES:
            canvas.polygon([(left, top), (left + w, top), (left + w, top - h), (left, top - h)], RED)
        green = (60, 170, 90)
        canvas.circle(tuple(self.goal), self.params["goal_radius"], (200, 235, 205))
        canvas.circle(tuple(self.goal), 0.025, green)
        for p, q in zip(self.trail, self.trail[1:], strict=False):
            canvas.segment(p, q, 0.006, BODY)
        canvas.circle(tuple(self.position), 0.03, DARK)
        return canvas.image()

    def close(self) -> None:
        self.window.close()
