"""DAgger's pieces with known answers: the beta schedules, the mixed policy (beta 1 always the expert, beta 0
never), aggregation (the dataset grows by exactly the visited states, labelled with the expert's actions),
the dataset file, re-expressing weights for new observation statistics, and bad settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simrl.envs.vec import make_vec_env
from simrl.errors import CheckpointError, ConfigError
from simrl.imitation.cloning import ObsScaler, first_layers
from simrl.imitation.dagger import _unfolded, settings_of
from simrl.imitation.mixing import Dataset, MixedPolicy, beta_at, episode_rows, rollout_round


@pytest.mark.parametrize(
    ("schedule", "kwargs", "expected"),
    [
        ("inverse", {}, [1.0, 1 / 2, 1 / 3, 1 / 4, 1 / 5]),
        ("linear", {}, [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]),
        ("exponential", {"decay": 0.5}, [1.0, 0.5, 0.25, 0.125]),
        ("exponential", {"decay": 1.0}, [1.0, 1.0, 1.0]),
        ("constant", {"beta": 0.3}, [0.3, 0.3, 0.3]),
        ("constant", {"beta": 0.0}, [0.0, 0.0]),
    ],
)
def test_each_beta_schedule_has_its_values(schedule, kwargs, expected):
    got = [beta_at(i, schedule, rounds=4, **kwargs) for i in range(len(expected))]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)


def test_the_settings_give_their_schedule():
    s = settings_of({"beta_schedule": "exponential", "decay": 0.8, "rounds": 3})
    assert [s.beta_at(i) for i in range(3)] == pytest.approx([1.0, 0.8, 0.64])
    assert settings_of({}).beta_at(3) == 0.25  # the default: the original's 1/(1 + i)


def test_an_unknown_schedule_is_a_config_error():
    with pytest.raises(ConfigError, match="beta_schedule must be one of inverse, linear, exponential, constant"):
        beta_at(1, "cosine", rounds=4)


class Linear:
    """A deterministic policy ``a = clip(obs @ w, -limit, limit)``; records what it was asked."""

    def __init__(self, w: np.ndarray, limit: float) -> None:
        self.w, self.limit, self.calls = w, limit, 0

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.calls += 1
        return np.clip(np.asarray(observation) @ self.w, -self.limit, self.limit).astype(np.float32), state


def _policies(obs_dim: int) -> tuple[Linear, Linear]:
    rng = np.random.default_rng(0)
    expert = Linear(rng.normal(size=(obs_dim, 1)), 1.0)
    learner = Linear(-expert.w, 0.5)  # pushes the other way, and never past 0.5: its actions are told apart
    return expert, learner


@pytest.mark.parametrize("beta", [1.0, 0.0, 0.4])
def test_a_round_visits_labels_and_mixes_per_step(beta):
    # The cart-pole's episodes end at different steps (the pole falls), so the rows of envs that ended
    # early must be cut where each one's episode ended.
    venv = make_vec_env("simrl/CartPole-v0", 4, seed=11)
    expert, learner = _policies(4)
    visited = rollout_round(expert, learner, venv, beta, np.random.default_rng(5))
    venv.close()
    n = len(visited.obs)
    assert len(visited.labels) == len(visited.actions) == len(visited.expert_acted) == n
    np.testing.assert_array_equal(visited.labels, expert.predict(visited.obs)[0])  # the expert's, state by state
    mixed = np.where(visited.expert_acted[:, None], visited.labels, learner.predict(visited.obs)[0])
    np.testing.assert_array_equal(visited.actions, mixed)  # the action taken is whoever acted's
    if beta == 1.0:
        assert visited.expert_acted.all() and np.array_equal(visited.actions, visited.labels)
    elif beta == 0.0:
        assert not visited.expert_acted.any() and np.all(np.abs(visited.actions) <= 0.5)
    else:
        assert 0.3 < visited.expert_acted.mean() < 0.5
    # The same envs and seeds through the collector alone give the rows' episode lengths and first states.
    venv = make_vec_env("simrl/CartPole-v0", 4, seed=11)
    first = venv.reset()
    venv.close()
    lengths = _lengths(visited, first)
    assert sum(lengths) == n and len(set(lengths)) > 1, lengths


def _lengths(visited, first: np.ndarray) -> list[int]:
    """Each episode's length, found by where its first observation starts it."""
    starts = [int(np.flatnonzero(np.all(visited.obs == f, axis=1))[0]) for f in first]
    assert starts == sorted(starts) and starts[0] == 0
    return list(np.diff([*starts, len(visited.obs)]))


def test_the_mixed_policy_draws_once_per_env_and_step_and_calls_the_learner_only_when_it_acts():
    expert, learner = _policies(3)
    obs = np.random.default_rng(1).normal(size=(6, 3))
    always = MixedPolicy(expert, learner, 1.0, np.random.default_rng(0))
    for _ in range(5):
        always.predict(obs)
    assert learner.calls == 0 and expert.calls == 5
    mixed = MixedPolicy(expert, learner, 0.5, np.random.default_rng(0))
    action, _ = mixed.predict(obs)
    use = np.random.default_rng(0).random(6) < 0.5  # the draw: one per env
    np.testing.assert_array_equal(mixed.expert_acted[0], use)
    np.testing.assert_array_equal(action[use], expert.predict(obs[use])[0])
    np.testing.assert_array_equal(action[~use], learner.predict(obs[~use])[0])


def test_episode_rows_keep_each_envs_first_episode_in_env_order():
    per_step = np.arange(4 * 3).reshape(4, 3)  # [T=4, n=3]: value = 3 t + env
    np.testing.assert_array_equal(episode_rows(per_step, np.array([2, 4, 1])), [0, 3, 1, 4, 7, 10, 2])


def test_aggregation_grows_by_exactly_the_added_rows_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    demos_obs, demos_act = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 1)).astype(np.float32)
    data = Dataset.demonstrated(demos_obs, demos_act)
    new_obs, new_labels = rng.normal(size=(7, 3)), rng.normal(size=(7, 1))
    grown = data.add(new_obs, new_labels, 1).add(new_obs[:2], new_labels[:2], 2)
    assert len(data) == 5 and len(grown) == 14
    np.testing.assert_array_equal(grown.rounds, [0] * 5 + [1] * 7 + [2] * 2)
    np.testing.assert_array_equal(grown.obs[:5], demos_obs)
    np.testing.assert_array_equal(grown.labels[5:12], new_labels.astype(np.float32))
    assert grown.obs.dtype == np.float32 and grown.labels.dtype == np.float32  # the demonstrations' dtypes
    grown.save(tmp_path / "dataset.npz")
    back = Dataset.load(tmp_path / "dataset.npz", (3,), (1,))
    for name in ("obs", "labels", "rounds"):
        np.testing.assert_array_equal(getattr(back, name), getattr(grown, name))
    with pytest.raises(CheckpointError, match="does not fit"):
        Dataset.load(tmp_path / "dataset.npz", (4,), (1,))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="corrupt"):
        Dataset.load(tmp_path / "bad.npz", (3,), (1,))


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_weights_reexpressed_for_new_statistics_act_on_standardized_observations_as_before(algo):
    from simrl.rl.algos import build_model

    venv = make_vec_env("simrl/Pendulum-v0", 1)
    arch = {"pi": [16], "vf": [8]} if algo == "ppo" else [16]
    policy = build_model(algo, venv, {"policy_kwargs": {"net_arch": arch}}, seed=0, device="cpu").policy
    venv.close()
    raw = np.random.default_rng(3).normal(size=(32, 3)) * [1.0, 1.0, 5.0] + [0.0, 2.0, 1.0]
    before, _ = policy.predict(raw.astype(np.float32), deterministic=True)
    scaler = ObsScaler.fit(raw)
    policy.load_state_dict(_unfolded(policy.state_dict(), scaler, first_layers(policy)))
    after, _ = policy.predict(scaler.normalize_obs(raw), deterministic=True)
    np.testing.assert_allclose(after, before, atol=1e-5)
    state = {k: v.clone() for k, v in policy.state_dict().items()}
    refolded = scaler.fold(state, first_layers(policy))  # and folding brings the raw-reading weights back
    policy.load_state_dict(refolded)
    np.testing.assert_allclose(policy.predict(raw.astype(np.float32), deterministic=True)[0], before, atol=1e-5)
    assert all(torch.isfinite(v).all() for v in refolded.values())


@pytest.mark.parametrize(
    ("hyperparams", "words"),
    [
        ({"beta_schedule": "constant", "beta": 1.5}, "beta must be in [0, 1], got 1.5"),
        ({"beta": -0.1}, "beta must be in [0, 1]"),
        ({"beta_schedule": "exponential", "decay": 0.0}, "decay must be in (0, 1], got 0.0"),
        ({"decay": 1.5}, "decay must be in (0, 1]"),
        ({"beta_schedule": "cosine"}, "beta_schedule must be one of inverse, linear, exponential, constant"),
        ({"rounds": 0}, "rounds must be at least 1"),
        ({"episodes_per_round": 0}, "episodes_per_round must be at least 1"),
        ({"fit_steps": 0}, "fit_steps must be at least 1"),
        ({"refit": "warm"}, "refit must be one of continue, scratch"),
        ({"expert_label_budget": 0}, "expert_label_budget must be at least 1"),
        ({"episodes": 5}, "unknown hyper-parameter 'episodes' for dagger"),
    ],
)
def test_bad_settings_are_config_errors_naming_train_dagger(hyperparams, words):
    with pytest.raises(ConfigError) as e:
        settings_of(hyperparams)
    assert words in e.value.line() and "dagger" in e.value.line()
