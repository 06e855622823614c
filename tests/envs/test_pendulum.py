"""The parametric pendulum: Pendulum-v1 at the defaults, its parameters, the batch, and SB3 on top."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import VecMonitor

import simrl.envs  # noqa: F401  registers simrl/Pendulum-v0
from simrl.envs import make_vec_env
from simrl.envs.batched_pendulum import BatchedPendulum
from simrl.envs.params import FixedSampler, UniformSampler
from simrl.envs.pendulum import DT, PARAM_SPACE, ParametricPendulum, draw_pendulum
from simrl.envs.wrappers import DomainRandomization
from simrl.errors import EnvError

F32 = {"rtol": 1e-6, "atol": 1e-6}  # float32 tolerance


def _actions(seed: int, steps: int, n: int = 1) -> np.ndarray:
    # Beyond [-2, 2] on purpose: the dynamics must clip as Pendulum-v1 does.
    return np.random.default_rng(seed).uniform(-3.0, 3.0, size=(steps, n, 1)).astype(np.float32)


def _rollout(env: gym.Env, state: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    env.unwrapped.state = np.array(state, dtype=np.float64)
    steps = [env.step(a) for a in actions]
    return np.array([s[0] for s in steps]), np.array([s[1] for s in steps])


# ------------------------------------------------------------------------------- against Pendulum-v1


def test_default_parameters_reproduce_pendulum_v1_step_for_step():
    ours, ref = ParametricPendulum(), gym.make("Pendulum-v1").unwrapped
    assert (ours.observation_space, ours.action_space) == (ref.observation_space, ref.action_space)
    ours.reset(seed=0)
    ref.reset(seed=0)
    # The first start falls from near upright at speed, so the 8 rad/s limit is reached.
    states = [[0.5, 7.5], *np.random.default_rng(1).uniform([-10.0, -8.0], [10.0, 8.0], size=(3, 2))]
    speeds = []
    for i, state in enumerate(states):
        actions = _actions(i, 300)[:, 0]
        obs, rew = _rollout(ours, state, actions)
        ref_obs, ref_rew = _rollout(ref, state, actions)
        assert obs.dtype == np.float32
        np.testing.assert_allclose(obs, ref_obs, **F32)
        np.testing.assert_allclose(rew, ref_rew, **F32)
        speeds.append(np.abs(obs[:, 2]).max())
    assert max(speeds) == 8.0


@pytest.mark.parametrize("options", [None, {"x_init": 0.5, "y_init": 0.1}])
def test_seeded_reset_starts_where_pendulum_v1_does(options):
    for seed in (0, 1, 123):
        ours, _ = gym.make("simrl/Pendulum-v0").reset(seed=seed, options=options)
        ref, _ = gym.make("Pendulum-v1").reset(seed=seed, options=options)
        np.testing.assert_array_equal(ours, ref)
    venv = BatchedPendulum(1)
    venv.seed(123)
    np.testing.assert_array_equal(venv.reset()[0], gym.make("Pendulum-v1").reset(seed=123)[0])


# -------------------------------------------------------------------------------------- parameters


def test_known_answers_for_gravity_mass_and_length():
    env = ParametricPendulum(mass=2.0, length=0.5, gravity=0.0)
    env.reset(seed=0)
    env.state = np.array([0.3, 0.0])
    obs, *_ = env.step(np.array([1.0], dtype=np.float32))
    assert obs[2] == pytest.approx(3.0 / (2.0 * 0.5**2) * 1.0 * DT)  # 3 u / (m l^2) dt, no gravity
    env.set_params({"gravity": 4.0})
    env.state = np.array([np.pi / 2, 0.0])
    obs, *_ = env.step(np.array([0.0], dtype=np.float32))
    assert obs[2] == pytest.approx(3.0 * 4.0 / (2.0 * 0.5) * DT)  # 3 g / (2 l) sin(pi/2) dt
    assert dict(env.params) == {"mass": 2.0, "length": 0.5, "gravity": 4.0}


@pytest.mark.parametrize("changed", [{"mass": 2.0}, {"length": 0.7}, {"gravity": 9.81}])
def test_each_parameter_changes_the_trajectory(changed):
    actions = _actions(0, 50)[:, 0]
    base, _ = _rollout(ParametricPendulum(), [1.0, 0.0], actions)
    other, _ = _rollout(ParametricPendulum(**changed), [1.0, 0.0], actions)
    assert np.abs(base - other).max() > 1e-2


@pytest.mark.parametrize(
    "make",
    [
        lambda: ParametricPendulum(mass=0.0),
        lambda: ParametricPendulum(length=5.5),
        lambda: gym.make("simrl/Pendulum-v0", gravity=-1.0),
        lambda: ParametricPendulum().set_params({"mass": float("nan")}),
        lambda: ParametricPendulum().set_params({"friction": 1.0}),
        lambda: ParametricPendulum().set_params([1.0, 1.0]),
        lambda: make_vec_env("simrl/Pendulum-v0", 2, params={"friction": 1.0}),
        lambda: make_vec_env("simrl/Pendulum-v0", 2, params={"length": 0.0}),
        lambda: make_vec_env("simrl/Pendulum-v0", 2, randomize={"mass": (0.5, 50.0)}),
        lambda: BatchedPendulum(2).set_params([1.0, 1.0, 31.0]),
        lambda: BatchedPendulum(2, sampler=_OutOfBounds()).reset(),
        lambda: BatchedPendulum(0),
        lambda: BatchedPendulum(2, render_mode="human"),
    ],
)
def test_bad_values_raise_env_error(make):
    with pytest.raises(EnvError):
        make()


class _OutOfBounds:
    def sample(self, n, rng):
        return np.tile([1.0, -1.0, 10.0], (n, 1))


def test_domain_randomization_draws_through_set_params():
    sampler = UniformSampler(PARAM_SPACE.defaults(), {"length": (0.5, 2.0)})
    env = DomainRandomization(gym.make("simrl/Pendulum-v0"), sampler)
    lengths = {env.reset(seed=s)[1]["params"][1] for s in range(5)}
    assert len(lengths) == 5 and all(0.5 <= x <= 2.0 for x in lengths)
    assert env.unwrapped.params["length"] == env.reset(seed=4)[1]["params"][1]


# ------------------------------------------------------------------------------------- batched env


def test_batch_matches_single_envs_across_the_autoreset():
    n, horizon = 5, 200
    box = {"mass": (0.5, 2.0), "length": (0.5, 2.0), "gravity": (5.0, 15.0)}
    venv = make_vec_env("simrl/Pendulum-v0", n, seed=0, randomize=box)
    obs = venv.reset()
    actions = _actions(1, 2 * horizon, n)
    for episode in range(2):
        params = venv.params
        singles = [ParametricPendulum(**dict(PARAM_SPACE.from_vector(p))) for p in params]
        for env, state in zip(singles, venv.state, strict=True):
            env.reset(seed=0)
            env.state = state.copy()
        theta, thetadot = venv.state.T
        np.testing.assert_array_equal(obs, np.stack([np.cos(theta), np.sin(theta), thetadot], 1).astype(np.float32))
        for t in range(horizon):
            obs, rew, done, infos = venv.step(actions[episode * horizon + t])
            ref = [env.step(a) for env, a in zip(singles, actions[episode * horizon + t], strict=True)]
            np.testing.assert_allclose(rew, [r[1] for r in ref], **F32)
            if t < horizon - 1:
                assert not done.any() and infos == [{}] * n
                np.testing.assert_array_equal(obs, np.stack([r[0] for r in ref]))
        assert done.all()
        assert all(info["TimeLimit.truncated"] for info in infos)
        terminal = np.stack([info["terminal_observation"] for info in infos])
        np.testing.assert_array_equal(terminal, np.stack([r[0] for r in ref]))
        assert not np.allclose(obs, terminal)  # the first observation of the next episode
        assert (venv.params != params).all()  # ... with newly drawn parameters


def test_randomized_parameters_are_redrawn_each_episode_and_reproducible():
    def episodes(seed):
        venv = make_vec_env("simrl/Pendulum-v0", 64, seed=seed, randomize={"mass": (0.5, 2.0)})
        venv.reset()
        drawn = [venv.params]
        for _ in range(200):
            venv.step(np.zeros((64, 1), dtype=np.float32))
        return [*drawn, venv.params]

    first, second = episodes(0)
    for p in (first, second):
        assert len(np.unique(p[:, 0])) == 64
        assert (p[:, 0] >= 0.5).all() and (p[:, 0] <= 2.0).all()
        np.testing.assert_array_equal(p[:, 1:], np.tile([1.0, 10.0], (64, 1)))
    assert (first[:, 0] != second[:, 0]).all()
    again = episodes(0)
    np.testing.assert_array_equal(again[0], first)
    np.testing.assert_array_equal(again[1], second)
    assert not np.array_equal(episodes(1)[0], first)


def test_batch_speaks_the_vec_env_api():
    venv = BatchedPendulum(3, sampler=FixedSampler(PARAM_SPACE.make({"mass": 2.0})))
    assert venv.seed(7) == [7, 8, 9]
    with pytest.raises(gym.error.ResetNeeded):
        venv.step(np.zeros((3, 1), dtype=np.float32))
    first = venv.reset()
    assert first.shape == (3, 3) and first.dtype == np.float32 and len(venv.reset_infos) == 3
    venv.seed(7)
    np.testing.assert_array_equal(venv.reset(), first)
    assert venv.get_attr("render_mode") == [None] * 3
    assert venv.env_is_wrapped(gym.Wrapper, indices=[0, 2]) == [False, False]
    assert venv.has_attr("max_episode_steps") and not venv.has_attr("action_masks")
    with pytest.raises(ValueError):
        venv.set_attr("max_episode_steps", 10, indices=[1])
    venv.set_attr("max_episode_steps", 10)
    assert venv.max_episode_steps == 10
    obs, rew, done, infos = venv.step(np.ones((3, 1), dtype=np.float32))
    infos[0]["x"] = 1  # SB3 wrappers write into infos: each must be its own dict
    assert infos[1] == {} and rew.dtype == np.float32 and done.dtype == bool
    assert venv.observation_space.contains(obs[0])
    np.testing.assert_array_equal(venv.params, np.tile([2.0, 1.0, 10.0], (3, 1)))


# ------------------------------------------------------------------------------------- checkers, SB3


def test_gymnasium_and_sb3_env_checkers_pass(monkeypatch):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # check_env also opens the human mode (pygame)
    no_pygame = importlib.util.find_spec("pygame") is None
    with pytest.warns(UserWarning, match="symmetric"):  # [-2, 2] torque, kept from Pendulum-v1
        check_env(gym.make("simrl/Pendulum-v0", render_mode="rgb_array").unwrapped, skip_render_check=no_pygame)
    with pytest.warns(UserWarning, match="symmetric"):
        sb3_check_env(ParametricPendulum(mass=2.0))


@pytest.mark.parametrize("algo", ["PPO", "SAC"])
def test_sb3_learns_on_the_batch(algo):
    import stable_baselines3

    venv = VecMonitor(make_vec_env("simrl/Pendulum-v0", 4, seed=0))
    kwargs = {"n_steps": 100, "batch_size": 100} if algo == "PPO" else {"learning_starts": 50, "batch_size": 64}
    model = getattr(stable_baselines3, algo)("MlpPolicy", venv, seed=0, device="cpu", **kwargs)
    model.learn(total_timesteps=800)
    assert len(model.ep_info_buffer) == 4
    assert all(ep["l"] == 200 and -16.3 * 200 <= ep["r"] <= 0 for ep in model.ep_info_buffer)


# ------------------------------------------------------------------------------------------ render


def test_rgb_array_frames_show_the_angle_length_and_mass():
    env = ParametricPendulum(render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 2
    env.state = np.array([0.0, 0.0])
    upright = env.render()
    env.state = np.array([1.0, 0.0])
    tilted = env.render()
    assert not np.array_equal(upright, tilted)
    np.testing.assert_array_equal(tilted, draw_pendulum(1.0))
    assert not np.array_equal(draw_pendulum(1.0, length=1.5), draw_pendulum(1.0))
    assert not np.array_equal(draw_pendulum(1.0, mass=3.0), draw_pendulum(1.0))


def test_batch_renders_each_env_as_the_single_env_does():
    venv = make_vec_env("simrl/Pendulum-v0", 4, seed=0, render_mode="rgb_array", randomize={"length": (0.5, 2)})
    venv.reset()
    venv.step(np.full((4, 1), 1.5, dtype=np.float32))
    images = venv.get_images()
    (theta, _), (mass, length, _) = venv.state[2], venv.params[2]
    np.testing.assert_array_equal(images[2], draw_pendulum(theta, length, mass, 1.5))
    assert not np.array_equal(images[0], images[1])
    assert venv.render().shape == (512, 512, 3)
