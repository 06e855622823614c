"""The learned dynamics model: the ensemble's batched members, the losses, fitting, stepping, state."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pytest
import torch

from simrl.errors import CheckpointError, ConfigError
from simrl.mbrl.models.dynamics import DynamicsModel, ModelSettings
from simrl.mbrl.models.ensemble import Ensemble, gaussian_nll, mse

# lr 3e-3: at 1e-3 the mean converges (and early stopping on the held-out MSE stops the fit) long before the
# log-variance has come down to the noise's: 0.0195 for a true 0.01 after one fit at 1e-3, 0.0105 at 3e-3.
SMALL = ModelSettings(members=3, elites=2, hidden=(32, 32), lr=3e-3, batch_size=64, max_epochs=60, patience=20)


def model(obs_dim: int, act_dim: int, settings: ModelSettings = SMALL, seed: int = 0) -> DynamicsModel:
    return DynamicsModel(obs_dim, act_dim, settings, generator=torch.Generator().manual_seed(seed))


def noisy_linear(n: int, rng: np.random.Generator, sigma) -> tuple[np.ndarray, ...]:
    """1-d obs, 1-d action: next_obs = obs + (0.5 obs - 0.3 u + 0.2) + N(0, sigma(obs)^2)."""
    obs = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    delta = 0.5 * obs - 0.3 * act + 0.2 + sigma(obs) * rng.standard_normal((n, 1))
    return obs, act, (obs + delta).astype(np.float32), np.zeros(n, np.float32)


def rows(*arrays: np.ndarray) -> list[torch.Tensor]:
    """[N, d] arrays as one row group [1, N, d]."""
    return [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[None] for a in arrays]


# ------------------------------------------------------------------------------------------ the ensemble


def test_members_use_their_own_weights_and_none_means_each_in_turn():
    net = Ensemble(3, 4, 2, (16,), generator=torch.Generator().manual_seed(0))
    x = torch.randn(1, 10, 4).expand(3, 10, 4)
    with torch.no_grad():
        mean, logvar = net(x)
        explicit, logvar_explicit = net(x, torch.arange(3))
        picked, _ = net(x, torch.tensor([2, 2, 0]))
    assert torch.equal(mean, explicit) and torch.equal(logvar, logvar_explicit)
    assert not torch.allclose(mean[0], mean[1]) and not torch.allclose(mean[1], mean[2])
    assert torch.equal(picked[0], mean[2]) and torch.equal(picked[1], mean[2]) and torch.equal(picked[2], mean[0])
    # one member alone on a different batch gives what it gives inside the ensemble
    with torch.no_grad():
        alone, _ = net(x[:1], torch.tensor([1]))
    torch.testing.assert_close(alone[0], mean[1])
    with pytest.raises(ValueError, match="one row group per member"):
        net(x[:2])


def test_logvar_stays_within_its_learned_bounds():
    net = Ensemble(2, 3, 2, (8,), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.weights[-1].mul_(1e4)  # wild raw log-variances
        _, logvar = net(torch.randn(2, 50, 3) * 10)
    assert logvar.max() <= 0.5 + 1e-3 and logvar.min() >= -10 - 1e-3  # the second softplus lifts max by ~e^-10.5


def test_losses_on_known_values():
    target = torch.zeros(2, 4, 1)
    mean = torch.tensor([0.0, 1.0]).reshape(2, 1, 1).expand(2, 4, 1)
    logvar = torch.zeros(2, 4, 1)
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    torch.testing.assert_close(gaussian_nll(mean, logvar, target), torch.tensor([half_log_2pi, half_log_2pi + 0.5]))
    torch.testing.assert_close(mse(mean, target), torch.tensor([0.0, 1.0]))
    # N(0, sigma^2)'s expected NLL is its entropy
    sigma, rng = 0.1, torch.Generator().manual_seed(0)
    y = sigma * torch.randn(1, 100_000, 1, generator=rng)
    nll = gaussian_nll(torch.zeros_like(y), torch.full_like(y, 2 * math.log(sigma)), y)
    assert abs(float(nll) - (0.5 * math.log(2 * math.pi * math.e) + math.log(sigma))) < 0.01


# ------------------------------------------------------------------------------------------ fitting on known answers


def test_probabilistic_fit_recovers_known_noise():
    rng, sigma = np.random.default_rng(0), 0.1
    m = model(1, 1)
    report = m.fit(*noisy_linear(2000, rng, lambda o: sigma), rng=rng)
    assert report.epochs >= 1 and len(report.holdout_mse) == 3 and len(report.elites) == 2
    obs, act, nxt, _ = noisy_linear(2000, rng, lambda o: sigma)
    mean, var = m.predict(*rows(obs, act), torch.tensor([m.elites[0]]))
    assert float(var.mean()) == pytest.approx(sigma**2, rel=0.2)
    nll = float(gaussian_nll(mean, var.log(), torch.from_numpy(nxt - obs)[None]))
    entropy = 0.5 * math.log(2 * math.pi * math.e * sigma**2)
    assert abs(nll - entropy) < 0.1, (nll, entropy)
    # sampling draws from that Gaussian
    one = torch.zeros(1, 5000, 1)
    nxt_samples, _ = m.step(
        one, one, torch.tensor([m.elites[0]]), sample=True, generator=torch.Generator().manual_seed(1)
    )
    assert float(nxt_samples.var()) == pytest.approx(sigma**2, rel=0.2)


def test_probabilistic_fit_tracks_noise_that_varies():
    rng = np.random.default_rng(1)
    sigma = lambda o: 0.02 + 0.2 * np.abs(o)  # noqa: E731
    m = model(1, 1)
    m.fit(*noisy_linear(3000, rng, sigma), rng=rng)
    obs = torch.tensor([-0.8, -0.4, 0.0, 0.4, 0.8]).reshape(1, 5, 1)
    _, var = m.predict(obs, torch.zeros_like(obs), torch.tensor([m.elites[0]]))
    truth = torch.from_numpy(sigma(obs.numpy())).square()
    ratio = (var / truth).flatten()
    assert ratio[[0, 1, 3, 4]].sub(1).abs().max() < 0.3, ratio  # away from the kink at 0
    v = var.flatten()
    assert v[0] > v[1] > v[2] and v[4] > v[3] > v[2], v  # narrowest in the middle


def test_deterministic_fit_has_the_noise_as_its_error():
    rng, sigma = np.random.default_rng(2), 0.1
    m = model(1, 1, dataclasses.replace(SMALL, probabilistic=False))
    m.fit(*noisy_linear(2000, rng, lambda o: sigma), rng=rng)
    obs, act, nxt, _ = noisy_linear(2000, rng, lambda o: sigma)
    mean, var = m.predict(*rows(obs, act), torch.tensor([m.elites[0]]))
    assert var is None
    assert float(mse(mean, torch.from_numpy(nxt - obs)[None])) == pytest.approx(sigma**2, rel=0.2)


def linear_system(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    a = np.array([[1.0, 0.1], [-0.2, 0.95]], np.float32)
    b = np.array([[0.0], [0.1]], np.float32)
    obs = rng.uniform(-2, 2, (n, 2)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    nxt = obs @ a.T + act @ b.T
    reward = -(obs**2).sum(1) - 0.1 * act[:, 0] ** 2
    return obs, act, nxt.astype(np.float32), reward.astype(np.float32)


def test_learns_a_linear_system_and_its_reward():
    rng = np.random.default_rng(3)
    m = model(2, 1, dataclasses.replace(SMALL, learn_reward=True))
    m.fit(*linear_system(2000, rng), rng=rng)
    obs, act, nxt, reward = linear_system(500, rng)
    o, a = (torch.from_numpy(v).reshape(1, 500, -1).expand(3, 500, -1) for v in (obs, act))
    pred, pred_reward = m.step(o, a, None, sample=False, generator=None)
    assert pred.shape == (3, 500, 2) and pred_reward.shape == (3, 500)
    delta = torch.from_numpy(nxt - obs)
    # each member's error is small next to the size of the deltas
    assert float((pred - torch.from_numpy(nxt)).abs().max()) < 0.1 * float(delta.abs().max())
    assert float((pred_reward - torch.from_numpy(reward)).abs().mean()) < 0.05 * float(np.abs(reward).mean())


def test_patience_counts_from_the_fits_own_best_epoch(monkeypatch):
    """A continuing fit whose first epochs raise the held-out MSE above the weights it started from (new data,
    refitted normalizers) trains on until it stops improving, and keeps its own weights, not the old ones."""
    rng = np.random.default_rng(0)
    settings = dataclasses.replace(SMALL, patience=3, max_epochs=30)
    m = model(1, 1, settings)
    m.fit(*noisy_linear(200, rng, lambda o: 0.1), rng=rng)
    before = [p.detach().clone() for p in m._net.ensemble.parameters()]
    # the held-out MSE before the fit, then after each epoch: worse than before for 5 epochs, then better
    scores = iter([0.10, 0.30, 0.25, 0.20, 0.15, 0.12, 0.09, 0.08, 0.08, 0.08, 0.08, 0.08])
    monkeypatch.setattr(DynamicsModel, "_holdout_mse", lambda self, x, y: torch.full((3,), next(scores)))
    report = m.fit(*noisy_linear(400, rng, lambda o: 0.1), rng=rng)
    assert report.epochs == 10  # best 0.08 at epoch 7, three epochs without a 1% drop after it
    assert report.holdout_mse == pytest.approx((0.08,) * 3)
    after = list(m._net.ensemble.parameters())
    assert not any(torch.equal(a, b) for a, b in zip(after, before, strict=True))


# ------------------------------------------------------------------------------------------ step


def test_step_shapes_mean_and_generator():
    rng = np.random.default_rng(4)
    m = model(2, 1)
    m.fit(*linear_system(300, rng), rng=rng)
    k, rows_per_group = 4, 7
    obs, act = torch.randn(k, rows_per_group, 2), torch.randn(k, rows_per_group, 1)
    members = torch.tensor(m.elites).repeat(2)
    nxt, reward = m.step(obs, act, members, sample=False, generator=None)
    assert nxt.shape == (k, rows_per_group, 2) and nxt.dtype == torch.float32 and reward is None
    mean, _ = m.predict(obs, act, members)
    torch.testing.assert_close(nxt, obs + mean)
    draw = lambda seed: m.step(obs, act, members, sample=True, generator=torch.Generator().manual_seed(seed))[0]  # noqa: E731
    assert torch.equal(draw(5), draw(5)) and not torch.equal(draw(5), draw(6))
    assert not torch.equal(draw(5), nxt)
    with pytest.raises(ValueError, match="generator"):
        m.step(obs, act, members, sample=True, generator=None)


def test_step_follows_a_refit_and_a_loaded_state():
    """step() keeps its folded layers between calls: a fit (new weights and statistics) or a loaded state must
    reach it, as it reaches predict()."""
    rng = np.random.default_rng(14)
    m = model(2, 1, FAST)
    m.fit(*linear_system(300, rng), rng=rng)
    obs, act = torch.randn(5, 7, 2), torch.randn(5, 7, 1)
    members = torch.tensor(m.elites[:1]).repeat(5)

    def step() -> torch.Tensor:
        with torch.no_grad():  # as planners call it: the folded layers are kept
            return m.step(obs, act, members, sample=False, generator=None)[0]

    before = step()
    shifted = [a + 3.0 if i in (0, 2) else a for i, a in enumerate(linear_system(300, rng))]  # other statistics
    m.fit(*shifted, rng=rng)
    after = step()
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, obs + m.predict(obs, act, members)[0])
    other = model(2, 1, FAST, seed=8)
    m.load_state(other.state())
    torch.testing.assert_close(step(), obs + other.predict(obs, act, members)[0])


# ------------------------------------------------------------------------------------------ determinism, state


def states_equal(a: dict, b: dict) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(states_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(states_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    return a == b


def roundtrip(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


FAST = dataclasses.replace(SMALL, max_epochs=4)


def test_same_seeds_give_identical_weights():
    data = linear_system(400, np.random.default_rng(6))
    a, b = model(2, 1, FAST, seed=1), model(2, 1, FAST, seed=1)
    a.fit(*data, rng=np.random.default_rng(7))
    b.fit(*data, rng=np.random.default_rng(7))
    assert states_equal(a.state(), b.state())
    c = model(2, 1, FAST, seed=1)
    c.fit(*data, rng=np.random.default_rng(8))
    assert not states_equal(a.state(), c.state())


def test_resume_from_state_equals_fitting_on():
    first, more = linear_system(300, np.random.default_rng(9)), linear_system(600, np.random.default_rng(10))
    straight = model(2, 1, FAST)
    rng = np.random.default_rng(11)
    straight.fit(*first, rng=rng)
    straight.fit(*more, rng=rng)

    before = model(2, 1, FAST)
    rng = np.random.default_rng(11)
    before.fit(*first, rng=rng)
    resumed = model(2, 1, FAST, seed=99)  # other initial weights: all overwritten
    resumed.load_state(roundtrip(before.state()))
    assert resumed.elites == before.elites
    resumed.fit(*more, rng=rng)
    assert states_equal(straight.state(), resumed.state())


def test_state_round_trip_and_refusals():
    rng = np.random.default_rng(12)
    settings = dataclasses.replace(FAST, learn_reward=True)
    m = model(2, 1, settings)
    m.fit(*linear_system(300, rng), rng=rng)
    loaded = model(2, 1, settings, seed=5)
    loaded.load_state(roundtrip(m.state()))
    obs, act = torch.randn(3, 5, 2), torch.randn(3, 5, 1)
    want, got = (
        m.step(obs, act, None, sample=False, generator=None),
        loaded.step(obs, act, None, sample=False, generator=None),
    )
    assert torch.equal(want[0], got[0]) and torch.equal(want[1], got[1])

    untouched = loaded.state()
    for other in (
        model(2, 1, dataclasses.replace(settings, hidden=(16, 32))),  # a layer's shape
        model(2, 1, dataclasses.replace(settings, learn_reward=False)),  # the output's width
        model(3, 1, settings),  # obs_dim
    ):
        with pytest.raises(CheckpointError, match="does not fit"):
            loaded.load_state(other.state())
    with pytest.raises(CheckpointError, match="keys missing"):
        loaded.load_state({"module": {}})
    assert states_equal(loaded.state(), untouched)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("elites", 6),
        ("elites", 0),
        ("members", 0),
        ("holdout", 1.0),
        ("holdout", -0.1),
        ("hidden", ()),
        ("activation", "gelu"),
        ("lr", 0.0),
        ("batch_size", 0),
        ("patience", 0),
        ("max_steps", 0),
    ],
)
def test_settings_check_names_the_field(field, value):
    settings = dataclasses.replace(ModelSettings(), **{field: value})
    with pytest.raises(ConfigError, match=field):
        settings.check()
    with pytest.raises(ConfigError):
        DynamicsModel(2, 1, settings, generator=torch.Generator())
    ModelSettings().check()
