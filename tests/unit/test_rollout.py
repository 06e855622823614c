"""The rollout collector: episode boundaries reach the policy, terminal observations are kept, any action space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from simrl.data import rollout
from simrl.envs.vec import make_vec_env
from simrl.evaluation.evaluate import RandomPolicy, random_baseline


class StepsSinceStart:
    """A policy with memory: counts the steps of each env's episode; pushes CartPole left."""

    def __init__(self) -> None:
        self.t: np.ndarray | None = None
        self.seen: list[np.ndarray] = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        n = len(observation)
        self.t = np.zeros(n, dtype=np.int64) if self.t is None else np.where(episode_start, 0, self.t + 1)
        self.seen.append(self.t.copy())
        return np.zeros(n, dtype=np.int64), None


def test_a_policy_with_memory_sees_every_episode_boundary_and_terminal_observations_are_kept():
    venv = make_vec_env("CartPole-v1", 4, seed=0)
    policy = StepsSinceStart()
    tr = rollout.transitions(policy, venv, 120)
    venv.close()
    done = (tr.terminated | tr.truncated).reshape(120, 4)
    assert done.sum() >= 8  # pushing left ends an episode within a few dozen steps
    expected = np.zeros((120, 4), dtype=np.int64)
    for t in range(1, 120):
        expected[t] = np.where(done[t - 1], 0, expected[t - 1] + 1)
    np.testing.assert_array_equal(np.array(policy.seen), expected)
    # Where an episode ended, next_obs is its last observation (the pole fallen or the cart out), not a reset one.
    ended = tr.next_obs[tr.terminated]
    assert ((np.abs(ended[:, 2]) > 0.2095) | (np.abs(ended[:, 0]) > 2.4)).all()
    assert np.abs(tr.obs.reshape(120, 4, 4)[1:][done[:-1]]).max() <= 0.05  # the next row starts afresh
    np.testing.assert_array_equal(np.sort(tr.episode_lengths), np.sort(tr.episode_returns).astype(np.int64))


def test_episodes_keeps_each_first_episode_and_repeats_its_last_observation_after_it():
    venv = make_vec_env("CartPole-v1", 3, seed=5)
    ran = rollout.episodes(StepsSinceStart(), venv, keep=True)
    venv.close()
    np.testing.assert_array_equal(ran.returns, ran.lengths)  # CartPole pays 1 per step
    for i, n in enumerate(ran.lengths):
        assert ran.terminated[n - 1, i] and not ran.terminated[: n - 1, i].any()
        np.testing.assert_array_equal(ran.obs[n:, i], np.broadcast_to(ran.obs[n, i], ran.obs[n:, i].shape))
    assert ran.obs.shape == (ran.lengths.max() + 1, 3, 4)


@pytest.mark.parametrize(
    "space",
    [gym.spaces.Discrete(3, start=1), gym.spaces.MultiDiscrete([2, 5]), gym.spaces.MultiBinary(4)],
    ids=["Discrete", "MultiDiscrete", "MultiBinary"],
)
def test_the_random_policy_draws_from_any_sb3_action_space(space):
    actions, _ = RandomPolicy(space, seed=0).predict(np.zeros((64, 2)))
    assert len(actions) == 64 and all(space.contains(a) for a in actions)
    assert len({np.asarray(a).tobytes() for a in actions}) > 1


def test_random_baseline_on_a_discrete_task():
    result = random_baseline("CartPole-v1", 5)
    assert (result.returns == result.lengths).all() and (result.lengths > 5).all()


def test_info_keys_by_exact_name_and_by_prefix_patterns():
    """``info_terms`` takes exact keys and ``prefix_*`` patterns; each is summed over its episode's steps only."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    class Terms(gym.Wrapper):
        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            return obs, r, term, trunc, {**info, "reward_a": 1.0, "reward_b": 2.0, "metric_m": 0.5, "other": 7.0}

    venv = DummyVecEnv([lambda: Terms(gym.make("CartPole-v1")) for _ in range(3)])
    venv.seed(0)
    ran = rollout.episodes(RandomPolicy(venv.action_space, 0), venv, info_terms=("other", "reward_*", "metric_*"))
    assert list(ran.terms) == ["other", "metric_m", "reward_a", "reward_b"]
    np.testing.assert_array_equal(ran.terms["reward_a"], ran.lengths)  # not the steps after an episode ended
    np.testing.assert_array_equal(ran.terms["other"], 7.0 * ran.lengths)
    np.testing.assert_array_equal(ran.terms["metric_m"], 0.5 * ran.lengths)
    assert len(set(ran.lengths.tolist())) > 1
    assert list(rollout.episodes(RandomPolicy(venv.action_space, 0), venv, info_terms="reward_*").terms) == [
        "reward_a",
        "reward_b",
    ]
