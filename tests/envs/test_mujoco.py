"""Gymnasium's MuJoCo tasks as simrl builds them: contract, determinism, and their physical parameters."""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import simrl.envs  # noqa: F401  registers the ids and picks the GL back end
from simrl.envs import mujoco
from simrl.envs.vec import check_env_kwargs, make_env, make_vec_env, param_space
from simrl.errors import EnvError

# id -> (observation size, action size)
SIZES = {
    "Hopper-v5": (11, 3),
    "HalfCheetah-v5": (17, 6),
    "Ant-v5": (105, 8),
    "Walker2d-v5": (17, 6),
    "Reacher-v5": (10, 2),
    "InvertedPendulum-v5": (4, 1),
}
IDS = list(SIZES)


def trajectory(env: gym.Env, seed: int, steps: int, action: np.ndarray | None = None) -> np.ndarray:
    """Observations of ``steps`` steps from a seeded reset, with seeded random actions or a fixed one."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    low, high = env.action_space.low, env.action_space.high
    for _ in range(steps):
        a = rng.uniform(low, high).astype(np.float32) if action is None else action
        obs, _, terminated, truncated, _ = env.step(a)
        out.append(obs)
        if terminated or truncated:
            break
    return np.array(out)


@pytest.mark.parametrize("env_id", IDS)
def test_contract_sizes_and_rendering(env_id):
    env = make_env(env_id, render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space.shape == (SIZES[env_id][0],)
    assert env.action_space.shape == (SIZES[env_id][1],)
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8 and frame.std() > 1
    env.close()


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory_and_defaults_change_nothing(env_id):
    a = trajectory(make_env(env_id), 3, 60)
    b = trajectory(make_env(env_id), 3, 60)
    np.testing.assert_array_equal(a, b)
    plain = trajectory(gym.make(env_id), 3, 60)  # simrl's env at default parameters is Gymnasium's task
    np.testing.assert_array_equal(a, plain)


@pytest.mark.parametrize("env_id", IDS)
def test_parameters_are_scale_factors_with_bounds(env_id):
    space = param_space(env_id)
    assert len(space) >= 3
    for p in space.params:
        assert p.default == 1.0 and p.low < 1.0 < p.high and p.unit == "x" and p.doc
        with pytest.raises(EnvError, match="outside its bounds"):
            make_env(env_id, {p.name: p.high * 1.5})
    with pytest.raises(EnvError, match="unknown parameter 'wing_span'"):
        make_env(env_id, {"wing_span": 1.0})


def test_a_heavier_torso_falls_differently_and_each_scale_acts_on_the_model():
    still = np.zeros(3, dtype=np.float32)
    nominal = trajectory(make_env("Hopper-v5"), 0, 200, still)
    heavy = trajectory(make_env("Hopper-v5", {"torso_mass_scale": 2.0}), 0, 200, still)
    assert len(heavy) != len(nominal) or not np.allclose(heavy, nominal)
    # The heavier torso falls sooner (fewer steps until the hopper is unhealthy).
    assert len(heavy) < len(nominal)

    env = make_env("Ant-v5")
    model = env.unwrapped.model
    base = {
        "mass": model.body_mass.copy(),
        "inertia": model.body_inertia.copy(),
        "friction": model.geom_friction.copy(),
        "gear": model.actuator_gear.copy(),
        "gravity": model.opt.gravity.copy(),
        "damping": model.dof_damping.copy(),
    }
    values = {"mass_scale": 1.5, "torso_mass_scale": 2.0, "friction_scale": 0.5, "gear_scale": 1.2}
    env.get_wrapper_attr("set_params")({**values, "gravity_scale": 0.8, "damping_scale": 2.0})
    torso = model.body("torso").id
    np.testing.assert_allclose(model.body_mass[torso], base["mass"][torso] * 3.0)
    np.testing.assert_allclose(model.body_mass[torso + 1], base["mass"][torso + 1] * 1.5)
    np.testing.assert_allclose(model.body_inertia[torso], base["inertia"][torso] * 3.0)
    np.testing.assert_allclose(model.geom_friction[:, 0], base["friction"][:, 0] * 0.5)
    np.testing.assert_array_equal(model.geom_friction[:, 1:], base["friction"][:, 1:])
    np.testing.assert_allclose(model.actuator_gear[:, 0], base["gear"][:, 0] * 1.2)
    np.testing.assert_allclose(model.opt.gravity, base["gravity"] * 0.8)
    np.testing.assert_allclose(model.dof_damping, base["damping"] * 2.0)
    # Set from the nominal model, not on top of the last setting: the defaults restore it exactly.
    env.get_wrapper_attr("set_params")({})
    np.testing.assert_array_equal(model.body_mass, base["mass"])
    np.testing.assert_array_equal(model.actuator_gear, base["gear"])
    np.testing.assert_array_equal(model.opt.gravity, base["gravity"])


def test_domain_randomization_draws_per_episode_inside_bounds_and_reproducibly():
    def masses(seed):
        venv = make_vec_env("Walker2d-v5", 4, seed=seed, randomize={"torso_mass_scale": (0.5, 2.0)})
        venv.reset()
        torso = venv.envs[0].unwrapped.model.body("torso").id
        nominal = gym.make("Walker2d-v5").unwrapped.model.body_mass[torso]
        out = np.array([e.unwrapped.model.body_mass[torso] / nominal for e in venv.envs])
        venv.close()
        return out

    a = masses(7)
    assert np.all((a >= 0.5) & (a <= 2.0)) and len(np.unique(a)) == 4
    np.testing.assert_array_equal(a, masses(7))
    assert not np.array_equal(a, masses(8))


def test_env_kwargs_follow_the_constructor_chain_to_mujoco_env():
    assert check_env_kwargs("HalfCheetah-v5", {"frame_skip": 4, "reset_noise_scale": 0.15, "width": 64}) == {
        "frame_skip": 4,
        "reset_noise_scale": 0.15,
        "width": 64,
    }
    with pytest.raises(EnvError, match="unknown env kwarg 'fram_skip'") as e:
        check_env_kwargs("HalfCheetah-v5", {"fram_skip": 4})
    assert "did you mean 'frame_skip'" in e.value.line() and "camera_name" in e.value.line()
    with pytest.raises(EnvError, match="simulator parameter"):
        check_env_kwargs("HalfCheetah-v5", {"mass_scale": 1.2})
    with pytest.raises(EnvError, match="unknown env kwarg 'model_path'"):  # MujocoEnv's, passed by the task
        check_env_kwargs("Hopper-v5", {"model_path": "x.xml"})


def test_mujoco_warnings_leave_stdout_and_the_folder_alone(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    make_env("HalfCheetah-v5").close()  # Gymnasium's half_cheetah.xml makes MuJoCo warn when compiled
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    assert "WARNING" not in capfd.readouterr().out


def test_the_gl_back_end_is_egl_without_a_display(monkeypatch):
    for var in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(mujoco.sys, "platform", "linux")
    mujoco.select_gl()
    assert os.environ["MUJOCO_GL"] == "egl"
    monkeypatch.delenv("MUJOCO_GL")
    monkeypatch.setenv("DISPLAY", ":0")
    mujoco.select_gl()
    assert "MUJOCO_GL" not in os.environ  # with a display, MuJoCo's own default (GLFW, for windows)
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.delenv("DISPLAY")
    mujoco.select_gl()
    assert os.environ["MUJOCO_GL"] == "osmesa"  # the user's choice stays


def test_bayessims_simulator_runs_mujoco_parameter_draws():
    from simrl.inference.simulate import simulate

    thetas = np.array([[0.6], [1.8], [0.6]])
    sims = simulate("Hopper-v5", thetas, ("torso_mass_scale",), trajectories=2, steps=40, seed=1)
    assert sims.obs.shape == (3, 2, 41, 11) and sims.actions.shape == (3, 2, 40, 3)
    # The same draw with the same seeds repeats; another torso mass moves differently.
    again = simulate("Hopper-v5", thetas, ("torso_mass_scale",), trajectories=2, steps=40, seed=1)
    np.testing.assert_array_equal(sims.obs, again.obs)
    assert not np.allclose(sims.obs[0, :, -1], sims.obs[1, :, -1])


def test_videos_follow_the_runners_with_their_track_camera():
    from simrl.envs.vec import make_render_env

    for env_id in ("HalfCheetah-v5", "Ant-v5"):
        env = make_render_env(env_id)
        track = env.unwrapped.model.camera("track").id
        assert env.unwrapped.mujoco_renderer.camera_id == track
        env.close()
    chosen = make_render_env("HalfCheetah-v5", env_kwargs={"camera_id": -1})  # the user's choice stays
    assert chosen.unwrapped.mujoco_renderer.camera_id == -1
    chosen.close()
