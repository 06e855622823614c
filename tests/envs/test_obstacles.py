"""simrl/Obstacles-v0: Gymnasium's contract, CS285's facts (moves, obstacles, goal, reward), parameters, frames."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import simrl.envs  # noqa: F401  registers the ids
from simrl.envs.obstacles import GOAL, OBSTACLES, is_free
from simrl.envs.vec import check_env_kwargs, make_env, make_vec_env, param_space
from simrl.errors import EnvError

ID = "simrl/Obstacles-v0"


def rollout(env: gym.Env, seed: int, steps: int, action_seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    out, rewards = [obs], []
    for _ in range(steps):
        obs, r, term, trunc, _ = env.step(rng.uniform(-1, 1, 2).astype(np.float32))
        out.append(obs)
        rewards.append(r)
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    return np.array(out), np.array(rewards)


def test_check_env_spaces_and_limit():
    env = gym.make(ID, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    assert env.observation_space.shape == (4,) and env.observation_space.dtype == np.float32
    assert np.all(env.action_space.low == np.float32(-0.99)) and np.all(env.action_space.high == np.float32(0.99))
    assert gym.spec(ID).max_episode_steps == 100  # the homework's episode length
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and tuple(obs[2:]) == pytest.approx(GOAL)
    env.close()


def test_same_seed_same_trajectory():
    a = rollout(gym.make(ID), seed=7, steps=150)
    env = gym.make(ID)
    rollout(env, seed=99, steps=30)  # history must not matter
    b = rollout(env, seed=7, steps=150)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = rollout(gym.make(ID), seed=8, steps=150)
    assert not np.array_equal(a[0][:5], c[0][:5])


def test_random_starts_lie_in_the_upper_left_box_and_are_free():
    env = gym.make(ID)
    starts = np.array([env.reset(seed=s)[0][:2] for s in range(300)])
    assert np.all(starts[:, 0] >= -0.99) and np.all(starts[:, 0] <= 0.59)
    assert np.all(starts[:, 1] >= 0.26) and np.all(starts[:, 1] <= 0.99)
    assert all(is_free(x, y) for x, y in starts.astype(np.float64))
    fixed = gym.make(ID, random_starts=False)
    assert tuple(fixed.reset(seed=3)[0][:2]) == pytest.approx((-0.5, 0.75))


def test_a_move_is_the_clipped_action_over_ten_and_the_reward_minus_the_distance():
    env = gym.make(ID, random_starts=False)
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(np.array([5.0, -5.0], dtype=np.float32))  # clipped to [-1, 1]
    assert tuple(obs[:2]) == pytest.approx((-0.4, 0.65))
    assert r == pytest.approx(-np.hypot(-0.4 - 0.7, 0.65 + 0.8), rel=1e-6) and not term and not trunc
    assert info == {"reward_dist": r}


def test_an_obstacle_or_a_wall_stops_the_robot_without_ending_the_episode():
    env = gym.make(ID, random_starts=False)
    env.reset(seed=0)  # at (-0.5, 0.75), left of the obstacle spanning x in (-0.4, 0), y in (0.5, 0.8)
    obs, *_ = env.step(np.array([0.99, 0.0], dtype=np.float32))
    assert obs[0] == pytest.approx(-0.401)  # just outside
    for _ in range(3):
        obs, _, term, _, _ = env.step(np.array([0.99, 0.0], dtype=np.float32))
        assert obs[0] == pytest.approx(-0.401) and not term  # the next move would end inside: refused
    env.reset(options={"start": (0.95, 0.0)})
    obs, _, term, _, _ = env.step(np.array([0.99, 0.0], dtype=np.float32))
    assert obs[0] == pytest.approx(0.95) and not term  # the wall


def test_reaching_the_goal_terminates():
    env = gym.make(ID)
    env.reset(seed=0, options={"start": (0.7, -0.65)})
    _, r, term, _, _ = env.step(np.array([0.0, -0.5], dtype=np.float32))  # 0.1 away: not yet within
    assert not term and r == pytest.approx(-0.1, abs=1e-6)
    _, r, term, trunc, _ = env.step(np.array([0.0, -0.5], dtype=np.float32))
    assert term and not trunc and r == pytest.approx(-0.05, abs=1e-6)


def test_bad_starts_and_arguments_are_one_line_errors():
    left, top, w, h = OBSTACLES[0]
    with pytest.raises(EnvError, match="not free"):
        gym.make(ID, random_starts=False, start=(left + w / 2, top - h / 2))
    with pytest.raises(EnvError, match="not free"):
        gym.make(ID).reset(options={"start": (1.0, 0.0)})
    with pytest.raises(EnvError, match="unknown render mode"):
        gym.make(ID, render_mode="ascii")
    with pytest.raises(EnvError, match="step_size"):
        gym.make(ID, step_size=2.0)
    assert check_env_kwargs(ID, {"random_starts": False}) == {"random_starts": False}
    with pytest.raises(EnvError, match="simulator parameter"):
        check_env_kwargs(ID, {"goal_radius": 0.2})


def test_parameters_change_behaviour():
    assert set(param_space(ID).names) == {"step_size", "action_noise", "goal_radius"}
    right = np.array([0.5, 0.0], dtype=np.float32)
    env = make_env(ID, {"step_size": 0.2}, {"random_starts": False})
    env.reset(seed=0)
    assert env.step(right)[0][0] == pytest.approx(-0.4)  # 0.5 * 0.2 instead of 0.5 * 0.1
    noisy = make_env(ID, {"action_noise": 0.5}, {"random_starts": False})
    noisy.reset(seed=0)
    moved = noisy.step(right)[0][:2]
    assert not np.allclose(moved, (-0.45, 0.75), atol=1e-3)
    still = np.zeros(2, dtype=np.float32)
    for radius, ends in ((0.1, False), (0.3, True)):  # 0.25 from the goal
        env = make_env(ID, {"goal_radius": radius})
        env.reset(seed=0, options={"start": (0.7, -0.55)})
        assert env.step(still)[2] is ends
    env.unwrapped.set_params({"goal_radius": 0.1})
    assert env.step(still)[2] is False  # from the next step
    venv = make_vec_env(ID, 2, seed=0, randomize={"step_size": (0.05, 0.2)})
    assert venv.reset().shape == (2, 4)
    venv.close()


def test_rgb_frame_draws_the_course():
    env = gym.make(ID, render_mode="rgb_array")
    env.reset(seed=1)
    blank = env.render()
    assert blank.shape == (400, 400, 3) and blank.dtype == np.uint8 and blank.std() > 10
    for _ in range(5):
        env.step(np.array([0.9, 0.0], dtype=np.float32))
    assert not np.array_equal(env.render(), blank)  # the robot and its trail moved
    env.close()
