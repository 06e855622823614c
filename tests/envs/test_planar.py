"""The pymunk tasks: Gymnasium's contract, sizes, determinism, rewards, parameters, physics, rendering."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import simrl.envs  # noqa: F401  registers the ids
from simrl.envs.vec import make_vec_env, param_space
from simrl.errors import EnvError

SIZES = {
    "simrl/CartPole-v0": (4, 1),
    "simrl/BipedStand-v0": (36, 4),
    "simrl/BipedStand-v1": (50, 6),
    "simrl/BallBalance-v0": (62, 8),
    "simrl/BallBalance-v1": (62, 8),
}
IDS = list(SIZES)


def rollout(env: gym.Env, seed: int, steps: int, action_seed: int = 0):
    """Observations, rewards and infos of ``steps`` random-action steps (resetting on episode end)."""
    rng = np.random.default_rng(action_seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    rewards, infos = [], []
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        out.append(obs)
        rewards.append(r)
        infos.append(info)
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    return np.array(out), np.array(rewards), infos


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_and_sizes(env_id):
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)
    n_obs, n_act = SIZES[env_id]
    assert env.observation_space.shape == (n_obs,)
    assert env.action_space.shape == (n_act,)
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    assert gym.spec(env_id).max_episode_steps == 500
    obs, _ = env.reset(seed=0)
    assert obs.shape == (n_obs,) and obs.dtype == np.float32
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    assert frame.shape[:2] == env.unwrapped.FRAME[::-1]
    assert frame.std() > 10  # something is drawn
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id):
    a = rollout(gym.make(env_id), seed=7, steps=120)
    env = gym.make(env_id)
    rollout(env, seed=99, steps=30)  # history must not matter
    b = rollout(env, seed=7, steps=120)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = rollout(gym.make(env_id), seed=8, steps=120)
    assert not np.array_equal(a[0][:5], c[0][:5])


@pytest.mark.parametrize("env_id", IDS)
def test_shaped_terms_sum_to_the_reward(env_id):
    env = gym.make(env_id)
    _, rewards, infos = rollout(env, seed=1, steps=150)
    names = {k for info in infos for k in info if k.startswith("reward_")}
    assert {"reward_alive", "reward_ctrl"} <= names and len(names) >= 4
    for r, info in zip(rewards, infos, strict=True):
        assert r == pytest.approx(sum(v for k, v in info.items() if k.startswith("reward_")), abs=1e-12)
        assert info["reward_alive"] == 1.0 and info["reward_ctrl"] <= 0.0
    assert len(set(np.round(rewards, 6))) > 5  # shaped, not constant


@pytest.mark.parametrize("env_id", IDS)
def test_alive_reward_is_one_per_step(env_id):
    env = gym.make(env_id, reward="alive")
    _, rewards, infos = rollout(env, seed=1, steps=100)
    assert np.all(rewards == 1.0)
    assert all({k: v for k, v in info.items() if k.startswith("reward_")} == {"reward_alive": 1.0} for info in infos)


MEASURES = {
    "simrl/BipedStand-v0": {"metric_both_feet_down", "metric_torso_drift", "metric_upright", "metric_joint_speed"},
    "simrl/BipedStand-v1": {"metric_both_feet_down", "metric_torso_drift", "metric_upright", "metric_joint_speed"},
    "simrl/BallBalance-v0": {"metric_ball_drift", "metric_upright", "metric_joint_speed"},
    "simrl/BallBalance-v1": {"metric_ball_drift", "metric_upright", "metric_joint_speed"},
}


@pytest.mark.parametrize("env_id", list(MEASURES))
def test_the_bipeds_report_their_posture_every_step(env_id):
    """Without torques the biped stands (or rides) still: upright, feet down, no drift, joints nearly still;
    random torques flail the joints and tip it over."""
    env = gym.make(env_id)
    env.reset(seed=3)
    for _ in range(10):
        _, _, term, _, info = env.step(np.zeros(env.action_space.shape, np.float32))
        assert not term
        assert {k for k in info if k.startswith("metric_")} == MEASURES[env_id]
        assert info["metric_upright"] == 1.0 and info["metric_joint_speed"] < 1.0
        assert info.get("metric_both_feet_down", 1.0) == 1.0
        assert info.get("metric_torso_drift", 0.0) < 0.02 and info.get("metric_ball_drift", 0.0) < 0.01
    _, _, infos = rollout(gym.make(env_id), seed=3, steps=60)
    assert np.mean([i["metric_joint_speed"] for i in infos]) > 2.0
    assert min(i["metric_upright"] for i in infos) == 0.0


def test_v1_has_ankles_and_rewards_the_posture():
    """v1: six hinges (feet on ankles: a foot turns against its shin), and its reward is v0's terms plus
    pose, feet, drift and still, each read off the observation and the measures of the same step."""
    env = gym.make("simrl/BipedStand-v1")
    env.reset(seed=2)
    assert [j.name for j in env.unwrapped.biped.joints] == [
        *("hip_l", "knee_l", "hip_r", "knee_r", "ankle_l", "ankle_r")
    ]
    for _ in range(4):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 1, -1], np.float32))
    assert obs[46] > 0.01 and obs[47] < -0.01  # the ankles turned, opposite ways
    env.reset(seed=5)
    rng, poses, term = np.random.default_rng(0), [], False
    while not term:  # random torques until it falls
        obs, r, term, _, i = env.step(rng.uniform(-1, 1, 6).astype(np.float32))
        terms = {k[7:]: v for k, v in i.items() if k.startswith("reward_")}
        assert set(terms) == {"alive", "upright", "height", "ctrl", "pose", "feet", "drift", "still"}
        q = obs[42:48].astype(np.float64)
        assert terms["pose"] == pytest.approx(np.exp(-(q @ q) / 0.25))
        assert terms["feet"] == i["metric_both_feet_down"]
        assert terms["drift"] == pytest.approx(-2.0 * min(i["metric_torso_drift"], 0.5))
        assert terms["still"] == pytest.approx(-0.1 * min(i["metric_joint_speed"], 5.0))
        assert r == pytest.approx(sum(terms.values()))
        poses.append(terms["pose"])
    assert max(poses) <= 1.0 and min(poses) < 0.5  # bent by random torques


def test_the_ball_v1_rewards_staying_in_place_in_the_stance():
    """BallBalance-v1: v0's dynamics and observations, and its reward is v0's terms plus pose (the legs'
    joints against their start), drift (the ball's) and still, read off the same step."""
    v0, v1 = gym.make("simrl/BallBalance-v0"), gym.make("simrl/BallBalance-v1")
    start, _ = v1.reset(seed=4)
    np.testing.assert_array_equal(start, v0.reset(seed=4)[0])
    stance = start[54:60].astype(np.float64)
    rng, poses, term = np.random.default_rng(0), [], False
    while not term:  # random torques until it falls
        a = rng.uniform(-1, 1, 8).astype(np.float32)
        obs, r, term, _, i = v1.step(a)
        obs0, _, term0, _, i0 = v0.step(a)
        np.testing.assert_array_equal(obs, obs0)
        assert term == term0
        terms = {k[7:]: v for k, v in i.items() if k.startswith("reward_")}
        assert set(terms) == {"alive", "upright", "height", "ctrl", "pose", "drift", "still"}
        assert all(terms[k] == i0[f"reward_{k}"] for k in ("alive", "upright", "height", "ctrl"))
        q = obs[54:60].astype(np.float64) - stance
        assert terms["pose"] == pytest.approx(np.exp(-(q @ q) / 0.25))
        assert terms["drift"] == pytest.approx(-2.0 * min(i["metric_ball_drift"], 0.5))
        assert terms["still"] == pytest.approx(-0.1 * min(i["metric_joint_speed"], 5.0))
        assert r == pytest.approx(sum(terms.values()))
        poses.append(terms["pose"])
    assert max(poses) <= 1.0 and min(poses) < 0.5  # bent by random torques


def test_evaluation_sums_terms_and_averages_measures_per_episode():
    from simrl.evaluation.evaluate import random_baseline

    ran = random_baseline("simrl/BipedStand-v0", 3)
    assert list(ran.info) == [
        *("reward_alive", "reward_ctrl", "reward_height", "reward_upright"),
        *("metric_both_feet_down", "metric_joint_speed", "metric_torso_drift", "metric_upright"),
    ]
    np.testing.assert_array_equal(ran.info["reward_alive"], ran.lengths)  # a sum: 1 per step
    np.testing.assert_allclose(sum(ran.terms.values()), ran.returns, rtol=1e-5)
    for key, values in ran.metrics.items():  # means over each episode's steps
        assert values.shape == (3,) and np.all(values >= 0), key
    assert np.all(ran.metrics["metric_upright"] <= 1.0)


@pytest.mark.parametrize("env_id", IDS)
def test_random_policy_terminates(env_id):
    """Every task ends early without control: the termination conditions fire."""
    env = gym.make(env_id)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for t in range(500):  # noqa: B007  t is read after the loop
        _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
        if term:
            break
    assert term and not trunc and t < 400


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(EnvError, match="unknown reward 'nice'") as e:
        gym.make("simrl/BipedStand-v0", reward="nice")
    assert e.value.line() == "simrl: error: unknown reward 'nice' for simrl/BipedStand-v0 (rewards: shaped, alive)"
    with pytest.raises(EnvError, match="unknown parameter 'pole_mas'"):
        gym.make("simrl/CartPole-v0", pole_mas=1.0)
    with pytest.raises(EnvError, match=r"outside its bounds"):
        gym.make("simrl/BallBalance-v0", ball_radius=5.0)
    with pytest.raises(EnvError, match="render mode"):
        gym.make("simrl/CartPole-v0", render_mode="ascii")


@pytest.mark.parametrize(
    ("env_id", "expected"),
    [
        ("simrl/CartPole-v0", {"cart_mass", "pole_mass", "pole_length", "friction", "motor_strength", "gravity"}),
        ("simrl/BipedStand-v0", {"torso_mass", "thigh_length", "friction", "motor_strength"}),
        ("simrl/BallBalance-v0", {"ball_radius", "plank_length", "friction", "motor_strength", "torso_mass"}),
    ],
)
def test_parameters_are_a_space_with_bounds(env_id, expected):
    space = param_space(env_id)
    assert expected <= set(space.names)
    for p in space.params:
        assert p.low <= p.default <= p.high
        env = gym.make(env_id, **{p.name: p.low})  # the extremes build and step
        env.reset(seed=0)
        env.step(env.action_space.sample())
        env = gym.make(env_id, **{p.name: p.high})
        env.reset(seed=0)
        env.step(env.action_space.sample())


@pytest.mark.parametrize(
    ("env_id", "name", "value"),
    [
        ("simrl/CartPole-v0", "pole_length", 2.0),
        ("simrl/BipedStand-v0", "motor_strength", 300.0),
        ("simrl/BallBalance-v0", "ball_radius", 0.5),
    ],
)
def test_parameters_change_the_dynamics_from_the_next_reset(env_id, name, value):
    base = rollout(gym.make(env_id), seed=3, steps=20)[0]
    env = gym.make(env_id)
    env.unwrapped.set_params({name: value})
    assert env.unwrapped.params[name] == value
    changed = rollout(env, seed=3, steps=20)[0]
    assert not np.allclose(base, changed)
    assert rollout(gym.make(env_id, **{name: value}), seed=3, steps=20)[0] == pytest.approx(changed)


def test_domain_randomization_through_make_vec_env():
    venv = make_vec_env("simrl/CartPole-v0", 4, seed=0, randomize={"pole_mass": (0.05, 1.0)})
    venv.reset()
    masses = {e.unwrapped.params["pole_mass"] for e in venv.envs}
    assert len(masses) == 4 and all(0.05 <= m <= 1.0 for m in masses)
    fixed = make_vec_env("simrl/BipedStand-v0", 2, seed=0, params={"torso_mass": 20.0})
    fixed.reset()
    assert all(e.unwrapped.params["torso_mass"] == 20.0 for e in fixed.envs)


def _barto_derivative(s, force, cart_mass=1.0, pole_mass=0.1, half_length=0.5, g=9.81):
    """The cart-pole equations of Barto, Sutton and Anderson (1983), as Gymnasium's CartPole uses them.

    ``s`` = (x, x', theta, theta') with theta clockwise from upright (Gymnasium's convention).
    """
    _, x_dot, th, th_dot = s
    total = cart_mass + pole_mass
    temp = (force + pole_mass * half_length * th_dot**2 * math.sin(th)) / total
    th_acc = (g * math.sin(th) - math.cos(th) * temp) / (
        half_length * (4.0 / 3.0 - pole_mass * math.cos(th) ** 2 / total)
    )
    x_acc = temp - pole_mass * half_length * th_acc * math.cos(th) / total
    return np.array([x_dot, x_acc, th_dot, th_acc])


def test_cartpole_follows_the_textbook_equations():
    """pymunk's cart-pole against the analytic equations integrated finely (RK4), 25 steps of random force."""
    env = gym.make("simrl/CartPole-v0").unwrapped
    obs, _ = env.reset(seed=3)
    s = np.array([obs[0], obs[1], -obs[2], -obs[3]], dtype=np.float64)  # ours is counter-clockwise
    rng = np.random.default_rng(0)
    h = env.DT / 100
    for _ in range(25):
        a = float(rng.uniform(-1, 1))
        obs, *_ = env.step(np.array([a], dtype=np.float32))
        for _ in range(100):
            k1 = _barto_derivative(s, 10 * a)
            k2 = _barto_derivative(s + h / 2 * k1, 10 * a)
            k3 = _barto_derivative(s + h / 2 * k2, 10 * a)
            k4 = _barto_derivative(s + h * k3, 10 * a)
            s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        np.testing.assert_allclose(obs, [s[0], s[1], -s[2], -s[3]], atol=5e-3)
    assert abs(s[2]) > 0.05  # the pole has moved enough for the comparison to mean something


def test_biped_stands_up_straight_at_reset_and_falls_without_control():
    env = gym.make("simrl/BipedStand-v0")
    obs, _ = env.reset(seed=0)
    assert obs[1] == pytest.approx(0.03 + 0.45 + 0.45 + 0.25, abs=0.01)  # torso centre height
    assert obs[34] == 1.0 and obs[35] == 1.0  # both feet on the ground
    for _ in range(200):
        obs, _, term, _, _ = env.step(np.zeros(4, dtype=np.float32))
        if term:
            break
    assert term and obs[1] < 0.7 * 1.18 + 1e-6


def test_human_render_mode_opens_a_window_headless():
    env = gym.make("simrl/CartPole-v0", render_mode="human")
    env.reset(seed=0)
    env.step(np.zeros(1, dtype=np.float32))
    assert env.unwrapped.window.is_open
    env.close()
    assert not env.unwrapped.window.is_open
