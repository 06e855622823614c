"""Simulation and summaries: the batch equals single envs, the collection policy, documented shapes."""

from __future__ import annotations

import numpy as np
import pytest

import simrl.inference.simulate as sim_mod
from simrl.envs.pendulum import ParametricPendulum
from simrl.envs.pendulum import observe as pendulum_obs
from simrl.errors import ConfigError, EnvError
from simrl.inference.simulate import Trajectories, observe, random_actions, simulate, simulator
from simrl.inference.summaries import SUMMARIES, bayessim, downsampled, get_summary

PENDULUM = "simrl/Pendulum-v0"
NAMES = ("mass", "length")
THETAS = np.array([[0.3, 1.7], [1.3, 0.8], [1.9, 0.2]])


def test_batched_simulation_equals_single_envs_step_for_step():
    traj = simulate(PENDULUM, THETAS, NAMES, trajectories=2, steps=60, seed=3, fixed_params={"gravity": 9.0})
    assert traj.obs.shape == (3, 2, 61, 3) and traj.actions.shape == (3, 2, 60, 1)
    assert traj.obs.dtype == traj.actions.dtype == np.float32
    for n, (mass, length) in enumerate(THETAS):
        for k in range(2):
            env = ParametricPendulum(mass=mass, length=length, gravity=9.0)
            env.reset(seed=0)
            env.state = traj.init_state[n, k].copy()
            start = pendulum_obs(env.state[:1], env.state[1:])[0]
            obs = [start] + [env.step(a)[0] for a in traj.actions[n, k]]
            np.testing.assert_array_equal(np.array(obs), traj.obs[n, k])


def test_random_collection_is_one_action_sequence_for_all_simulations_and_the_observation():
    traj = simulate(PENDULUM, THETAS, NAMES, trajectories=2, steps=30, seed=7)
    real = observe(PENDULUM, {"mass": 1.3, "length": 0.8}, trajectories=2, steps=30, seed=7)
    expected = random_actions(ParametricPendulum().action_space, 2, 30, seed=7)
    for n in range(3):
        np.testing.assert_array_equal(traj.actions[n], expected)
    np.testing.assert_array_equal(real.actions[0], expected)
    assert np.abs(expected).max() <= 2.0 and expected.std() > 0.5
    # Initial states: random, different per simulation and from the observation's own stream.
    starts = np.concatenate([traj.init_state.reshape(-1, 2), real.init_state.reshape(-1, 2)])
    assert len(np.unique(starts[:, 0])) == len(starts)
    # The same draw twice, from a different seed: other actions, other starts.
    other = simulate(PENDULUM, THETAS, NAMES, trajectories=2, steps=30, seed=8)
    assert not np.array_equal(other.actions, traj.actions) and not np.array_equal(other.init_state, traj.init_state)
    np.testing.assert_array_equal(simulate(PENDULUM, THETAS, NAMES, trajectories=2, steps=30, seed=7).obs, traj.obs)


class _Feedback:
    """A deterministic Policy: torque against the velocity, saturating beyond the action box."""

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return -3.0 * observation[:, 2:3], None


def test_policy_collection_applies_the_policy_clipped_to_the_action_box():
    traj = simulate(PENDULUM, THETAS, NAMES, trajectories=2, steps=40, policy=_Feedback(), seed=1)
    expected = np.clip(-3.0 * traj.obs[:, :, :-1, 2:3], -2.0, 2.0)
    np.testing.assert_allclose(traj.actions, expected, rtol=1e-6)
    assert np.abs(traj.actions).max() == 2.0  # some saturated


def test_simulator_matches_simulate_and_chunks(monkeypatch):
    monkeypatch.setattr(sim_mod, "CHUNK_TRAJECTORIES", 4)  # 2 draws of K = 2 per chunk
    run = simulator(PENDULUM, NAMES, bayessim, trajectories=2, steps=20, seed=5)
    x = run(np.vstack([THETAS, THETAS]), 0)
    assert x.shape == (6, 9) and np.all(np.isfinite(x))
    np.testing.assert_array_equal(run(THETAS, 0), x[:3])  # reproducible
    assert not np.array_equal(run(THETAS, 1), x[:3])  # another round, other initial states


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(ConfigError, match="shape"):
        simulate(PENDULUM, np.ones((3, 3)), NAMES)
    with pytest.raises(EnvError, match="outside its bounds"):
        simulate(PENDULUM, np.array([[9.0, 1.0]]), NAMES)
    with pytest.raises(EnvError, match="both simulated and fixed"):
        simulate(PENDULUM, THETAS, NAMES, fixed_params={"mass": 1.0})
    with pytest.raises(EnvError, match="unknown parameter"):
        observe(PENDULUM, {"mas": 1.0})
    with pytest.raises(ConfigError, match="at least 1"):
        simulate(PENDULUM, THETAS, NAMES, steps=0)


def test_generic_fallback_loops_gymnasium_envs(monkeypatch):
    monkeypatch.setattr(sim_mod, "batched_class", lambda env_id: None)
    traj = simulate(PENDULUM, THETAS[:2], NAMES, trajectories=2, steps=15, seed=2)
    assert traj.obs.shape == (2, 2, 16, 3) and traj.init_state is None
    np.testing.assert_allclose(traj.obs[..., 0] ** 2 + traj.obs[..., 1] ** 2, 1.0, rtol=1e-5)
    np.testing.assert_array_equal(traj.actions[1], random_actions(ParametricPendulum().action_space, 2, 15, 2))
    again = simulate(PENDULUM, THETAS[:2], NAMES, trajectories=2, steps=15, seed=2)
    np.testing.assert_array_equal(again.obs, traj.obs)
    # Same starts for the same trajectory index across draws? No: each env has its own reset seed.
    assert not np.array_equal(traj.obs[0, 0, 0], traj.obs[0, 1, 0])


# ------------------------------------------------------------------------------------------ summaries


def _one_trajectory_stats(obs: np.ndarray, act: np.ndarray, state_action: bool) -> np.ndarray:
    """The BayesSim statistic written out loop by loop, for one trajectory."""
    ds = np.diff(obs.astype(np.float64), axis=0)
    a = act.astype(np.float64)
    steps = len(a)
    cross = [np.dot(ds[:, i], a[:, j]) / steps for i in range(ds.shape[1]) for j in range(a.shape[1])]
    out = [*cross, *ds.mean(axis=0), *ds.std(axis=0)]
    if state_action:
        s = obs[:-1].astype(np.float64)
        out += [np.dot(s[:, i], a[:, j]) / steps for i in range(s.shape[1]) for j in range(a.shape[1])]
    return np.array(out)


@pytest.mark.parametrize("kind,dim", [("bayessim", 9), ("bayessim-sa", 12), ("raw", 21 * 3)])
def test_summaries_have_the_documented_shapes(kind, dim):
    traj = simulate(PENDULUM, THETAS, NAMES, trajectories=3, steps=200, seed=0)
    x = get_summary(kind)(traj)
    assert x.shape == (3, dim) and x.dtype == np.float64 and np.all(np.isfinite(x))


def test_bayessim_statistic_is_the_average_over_trajectories_of_the_written_out_formula():
    traj = simulate(PENDULUM, THETAS, NAMES, trajectories=3, steps=50, seed=4)
    for state_action, fn in ((False, SUMMARIES["bayessim"]), (True, SUMMARIES["bayessim-sa"])):
        expected = np.array(
            [
                np.mean([_one_trajectory_stats(traj.obs[n, k], traj.actions[n, k], state_action) for k in range(3)], 0)
                for n in range(3)
            ]
        )
        np.testing.assert_allclose(fn(traj), expected, rtol=1e-10, atol=1e-12)
    # states=True: the released code's variant, on s_{t+1} instead of s_{t+1} - s_t.
    assert not np.allclose(bayessim(traj, states=True), bayessim(traj))


def test_downsampled_keeps_every_nth_observation_averaged_over_trajectories():
    traj = Trajectories(
        obs=np.arange(2 * 2 * 11 * 1, dtype=np.float32).reshape(2, 2, 11, 1),
        actions=np.zeros((2, 2, 10, 1), dtype=np.float32),
    )
    x = downsampled(traj, every=5)
    np.testing.assert_array_equal(x, [[5.5, 10.5, 15.5], [27.5, 32.5, 37.5]])
    with pytest.raises(ConfigError):
        downsampled(traj, every=0)
    with pytest.raises(ConfigError, match="unknown summary"):
        get_summary("fourier")


def test_the_planar_tasks_simulate_for_bayessim_over_their_parameters():
    """BayesSim's simulator runs on a pymunk task: the cart-pole over pole mass and length."""
    names = ("pole_mass", "pole_length")
    thetas = np.array([[0.1, 0.5], [0.1, 2.0], [1.0, 1.0]])
    traj = simulate("simrl/CartPole-v0", thetas, names, trajectories=2, steps=40, seed=0)
    assert traj.obs.shape == (3, 2, 41, 4) and traj.actions.shape == (3, 2, 40, 1)
    again = simulate("simrl/CartPole-v0", thetas, names, trajectories=2, steps=40, seed=0)
    np.testing.assert_array_equal(again.obs, traj.obs)
    stats = get_summary("bayessim-sa")(traj)
    assert stats.shape[0] == 3 and np.all(np.isfinite(stats))
    assert np.linalg.norm(stats[0] - stats[1]) > 1e-3  # the pole's length shows in the statistics
    with pytest.raises(EnvError, match="outside its bounds"):
        simulate("simrl/CartPole-v0", np.array([[5.0, 1.0]]), names, steps=5)
