"""Behaviour cloning's fit with known answers: a linear policy recovered from its demonstrations (MSE), the
mean and spread of a Gaussian one (NLL), the observation statistics folded exactly, early stopping at
the best held-out weights, and a fit stopped and restored that continues bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simrl.envs.vec import make_vec_env
from simrl.errors import ConfigError
from simrl.imitation.bc import settings_of
from simrl.imitation.cloning import Cloner, CloneSettings, ObsScaler, first_layers, fit_actor
from simrl.rl.algos import build_model

A = np.array([[0.5, -0.3, 0.1]])
B = np.array([0.2])


def _model(algo: str, net_arch, seed: int = 0):
    venv = make_vec_env("simrl/Pendulum-v0", 1)
    arch = {"pi": net_arch, "vf": [8]} if algo == "ppo" else net_arch
    return build_model(algo, venv, {"policy_kwargs": {"net_arch": arch}}, seed=seed, device="cpu")


def _obs(n: int, rng: np.random.Generator) -> np.ndarray:
    """Pendulum-like observations whose dimensions have different scales and means."""
    return np.column_stack([rng.uniform(-1, 1, n), rng.uniform(0, 1, n), rng.uniform(-8, 8, n)])


def _linear(policy, name: str) -> tuple[np.ndarray, np.ndarray]:
    state = policy.state_dict()
    return state[f"{name}.weight"].numpy(), state[f"{name}.bias"].numpy()


def test_mse_recovers_a_linear_policy_through_ppos_mean():
    rng = np.random.default_rng(0)
    obs = _obs(2000, rng)
    actions = obs @ A.T + B  # inside the action bounds (|a| < 2): nothing is clipped
    model = _model("ppo", [])
    settings = CloneSettings(loss="mse", learning_rate=2e-2, holdout=0.0)
    report = fit_actor(model.policy, obs, actions, settings, steps=1500, rng=np.random.default_rng(1))
    assert report.steps == 1500 and report.holdout_loss is None
    w, b = _linear(model.policy, "action_net")  # folded: it reads raw observations
    np.testing.assert_allclose(w, A, atol=2e-3)
    np.testing.assert_allclose(b, B, atol=2e-3)
    acted, _ = model.predict(obs[:50].astype(np.float32), deterministic=True)
    np.testing.assert_allclose(acted, actions[:50], atol=5e-3)


def test_mse_recovers_sacs_squashed_linear_policy():
    rng = np.random.default_rng(0)
    obs = _obs(2000, rng)
    actions = 2.0 * np.tanh(obs @ A.T + B)  # SAC acts tanh(mean) scaled to the bounds [-2, 2]
    model = _model("sac", [])
    settings = CloneSettings(loss="mse", learning_rate=2e-2, holdout=0.0)
    fit_actor(model.policy, obs, actions, settings, steps=1500, rng=np.random.default_rng(1))
    w, b = _linear(model.policy, "actor.mu")
    np.testing.assert_allclose(w, A, atol=5e-3)
    np.testing.assert_allclose(b, B, atol=5e-3)


def test_nll_recovers_the_mean_and_spread_of_a_gaussian_policy():
    rng = np.random.default_rng(0)
    obs = _obs(8000, rng)
    actions = obs @ A.T + B + 0.3 * rng.standard_normal((8000, 1))
    model = _model("ppo", [])
    settings = CloneSettings(loss="nll", batch_size=2048, holdout=0.0)  # Adam at 1e-3: its jitter stays small
    fit_actor(model.policy, obs, actions, settings, steps=3000, rng=np.random.default_rng(1))
    w, b = _linear(model.policy, "action_net")
    np.testing.assert_allclose(w, A, atol=0.02)
    np.testing.assert_allclose(b, B, atol=0.02)
    assert float(model.policy.log_std.detach().exp()) == pytest.approx(0.3, abs=0.02)


def test_sacs_nll_recovers_the_mean_before_the_squashing():
    rng = np.random.default_rng(0)
    obs = _obs(8000, rng)
    actions = 2.0 * np.tanh(obs @ A.T + B + 0.3 * rng.standard_normal((8000, 1)))
    model = _model("sac", [])
    settings = CloneSettings(loss="nll", batch_size=2048, holdout=0.0)  # Adam at 1e-3: its jitter stays small
    fit_actor(model.policy, obs, actions, settings, steps=3000, rng=np.random.default_rng(1))
    w, b = _linear(model.policy, "actor.mu")
    np.testing.assert_allclose(w, A, atol=0.02)
    np.testing.assert_allclose(b, B, atol=0.02)
    w_std, b_std = _linear(model.policy, "actor.log_std")
    np.testing.assert_allclose(np.exp(obs @ w_std.T + b_std), 0.3, atol=0.03)  # the spread, everywhere


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_folding_the_statistics_acts_on_raw_observations_as_before(algo):
    model = _model(algo, [16, 16])
    rng = np.random.default_rng(3)
    raw = _obs(64, rng) * np.array([1.0, 1.0, 5.0]) + np.array([0.0, 2.0, 1.0])
    scaler = ObsScaler.fit(raw)
    before, _ = model.policy.predict(scaler.normalize_obs(raw), deterministic=True)
    state = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.policy.load_state_dict(scaler.fold(state, first_layers(model.policy)))
    after, _ = model.policy.predict(raw.astype(np.float32), deterministic=True)
    np.testing.assert_allclose(after, before, atol=1e-5)


def test_a_dimension_that_never_varies_is_only_centred():
    scaler = ObsScaler.fit(np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]]))
    np.testing.assert_allclose(scaler.std, [np.std([1, 2, 3]), 1.0])
    np.testing.assert_allclose(scaler.normalize_obs(np.array([[2.0, 4.0]])), [[0.0, 1.0]])


def _cloner(model, settings: CloneSettings, n: int = 400) -> Cloner:
    rng = np.random.default_rng(0)
    obs = _obs(n, rng)
    actions = 2.0 * np.tanh(obs @ A.T + B) + 0.1 * rng.standard_normal((n, 1))
    return Cloner(
        model.policy, obs, actions, settings, rng=np.random.default_rng(1), split_rng=np.random.default_rng(2)
    )


def test_early_stopping_puts_back_the_best_held_out_weights():
    settings = CloneSettings(loss="mse", learning_rate=3e-2, holdout=0.2, check_freq=5, patience=3)
    cloner = _cloner(_model("sac", [64, 64]), settings, n=60)  # few rows, a large step: it overfits
    cloner.train(5000)
    assert cloner.stopped and cloner.steps < 5000
    assert cloner.steps == cloner.best_step + settings.patience * settings.check_freq
    assert cloner.holdout_loss() == pytest.approx(cloner.best_loss, rel=1e-6)
    assert cloner.n_holdout == 12 and cloner.n_train == 48


def test_a_fit_restored_from_its_state_continues_bit_for_bit():
    settings = CloneSettings(loss="nll", holdout=0.25, check_freq=10, patience=50, weight_decay=0.01)
    a = _cloner(_model("sac", [16]), settings)
    a.train(60)
    tensors, plain = a.state()
    a.train(60)
    b = _cloner(_model("sac", [16], seed=5), settings)  # other initial weights, overwritten by the state
    b.load_state(tensors, dict(plain), "test")
    b.train(60)
    for p, q in zip(a.params, b.params, strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert (a.steps, a.best_step, a.best_loss) == (b.steps, b.best_step, b.best_loss)


@pytest.mark.parametrize(
    ("hyperparams", "words"),
    [
        ({"loss": "huber"}, "loss must be one of nll, mse"),
        ({"as": "td3"}, "as must be one of sac, ppo"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
        ({"holdout": 1.0}, "holdout must be in [0, 1)"),
        ({"learning_rate": -1e-3}, "learning_rate must be above 0"),
        ({"batchsize": 64}, "did you mean 'batch_size'"),
        ({"patience": "many"}, "patience must be an integer"),
        ({"policy_kwargs": {"net_arch": [0]}}, "net_arch"),
    ],
)
def test_bad_settings_are_config_errors(hyperparams, words):
    with pytest.raises(ConfigError) as e:
        settings_of(hyperparams)
    assert words in e.value.line()


@pytest.mark.parametrize("clone_as", ["sac", "ppo"])
def test_the_preset_resolves_with_the_network_of_the_policy_it_clones_into(clone_as):
    import yaml

    from simrl.experiments import config as cfg
    from simrl.experiments.hyperparams import preset_path

    presets = yaml.safe_load(preset_path(clone_as).read_text())
    own = yaml.safe_load(preset_path("bc").read_text())  # bc.yaml's own network for an env comes first
    for env_id, block in presets.items():
        if env_id == "default":
            continue
        c = cfg.resolve("bc", env_id, seed=0, demos="demos.npz", hyperparams={"as": clone_as})
        assert c.kind == "imitation" and c.timesteps == 5000
        want = (own.get(env_id) or {}).get("policy_kwargs") or block.get("policy_kwargs") or {}
        assert c.hyperparams["policy_kwargs"] == want, env_id
    assert own["simrl/Pendulum-v0"]["policy_kwargs"] == {"net_arch": [32, 32], "activation_fn": "tanh"}
