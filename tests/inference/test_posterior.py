"""MDNPosterior against posteriors known in closed form, the proposal correction, files without pickle."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from simrl.errors import CheckpointError, ConfigError
from simrl.inference.posterior import MDNPosterior
from simrl.inference.posterior_io import CONFIG_FILE, WEIGHTS_FILE
from simrl.inference.prior import BoxPrior
from simrl.inference.settings import TrainSettings
from simrl.inference.training import proposal_log_normaliser

SIGMA = 0.3  # noise of the linear-Gaussian toy
FAST = TrainSettings(epochs=80)
LINEAR = BoxPrior(("a", "b"), np.array([-3.0, -3.0]), np.array([3.0, 3.0]), "toy/linear")
X_O = np.array([0.5, -0.5])


def _linear(theta: np.ndarray, seed: int) -> np.ndarray:
    """x = theta + N(0, SIGMA^2): under a wide uniform prior the posterior is N(x, SIGMA^2 I)."""
    return theta + SIGMA * np.random.default_rng(seed).standard_normal(theta.shape)


@pytest.fixture(scope="module")
def linear_posterior() -> MDNPosterior:
    theta = LINEAR.sample(4000, np.random.default_rng(0))
    return MDNPosterior.fit(LINEAR, theta, _linear(theta, 1), components=3, train=FAST, summary="toy", seed=0)


def _assert_matches_the_analytic_posterior(post: MDNPosterior, tol_std: float = 0.15) -> None:
    draws = post.sample(20_000, X_O, seed=1)
    assert LINEAR.contains(draws).all()
    np.testing.assert_allclose(draws.mean(axis=0), X_O, atol=0.08)  # seeds 0-4: 0.01-0.06 off
    np.testing.assert_allclose(draws.std(axis=0), SIGMA, rtol=tol_std)
    assert abs(np.corrcoef(draws.T)[0, 1]) < 0.15
    points = X_O + np.array([[0.0, 0.0], [0.3, -0.2], [-0.4, 0.1]])
    truth = stats.multivariate_normal(X_O, SIGMA**2 * np.eye(2)).logpdf(points)
    np.testing.assert_allclose(post.log_prob(points, X_O), truth, atol=0.4)  # seeds 0-3: within 0.24


def test_linear_gaussian_posterior_has_the_analytic_mean_std_and_density(linear_posterior):
    post = linear_posterior
    _assert_matches_the_analytic_posterior(post)
    np.testing.assert_allclose(post.mean(X_O), X_O, atol=0.08)
    np.testing.assert_allclose(post.map(X_O), X_O, atol=0.1)
    assert post.info.simulations == [4000] and len(post.info.best_val_log_prob) == 1
    # Outside the prior box: no density.
    assert post.log_prob(np.array([[3.5, 0.0]]), X_O)[0] == -np.inf


def test_mdn_learns_a_known_bimodal_posterior():
    """x = |theta| + N(0, 0.1^2), theta ~ U(-2, 2): at x = 1 the posterior is 0.5 N(-1, 0.01) + 0.5 N(1, 0.01)."""
    prior = BoxPrior(("theta",), np.array([-2.0]), np.array([2.0]), "toy/abs")
    theta = prior.sample(4000, np.random.default_rng(2))
    x = np.abs(theta) + 0.1 * np.random.default_rng(3).standard_normal(theta.shape)
    post = MDNPosterior.fit(prior, theta, x, components=4, train=FAST, summary="toy", seed=0)
    draws = post.sample(10_000, np.array([1.0]), seed=0)[:, 0]
    assert 0.4 < np.mean(draws > 0) < 0.6
    assert np.mean(np.abs(np.abs(draws) - 1.0) < 0.25) > 0.93
    points = np.array([[-1.0], [-0.9], [1.0], [1.1]])
    truth = np.log(0.5 * stats.norm(-1, 0.1).pdf(points[:, 0]) + 0.5 * stats.norm(1, 0.1).pdf(points[:, 0]))
    np.testing.assert_allclose(post.log_prob(points, np.array([1.0])), truth, atol=0.4)  # seeds 0-3: within 0.24


def test_proposal_normaliser_is_the_integral_of_the_product():
    from sbi.neural_nets.estimators.mog import MoG

    gen = torch.Generator().manual_seed(0)

    def mog(batch: int, k: int) -> MoG:
        a = torch.randn(batch, k, 2, 2, generator=gen) * 0.3 + 2.0 * torch.eye(2)
        logits, means = torch.randn(batch, k, generator=gen), torch.randn(batch, k, 2, generator=gen)
        return MoG(logits, means, a.transpose(-1, -2) @ a)

    q, p = mog(3, 4), mog(1, 2)
    grid = torch.linspace(-6, 6, 601)
    uu = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    cell = float(grid[1] - grid[0]) ** 2
    for b in range(3):
        qb = MoG(q.logits[b : b + 1], q.means[b : b + 1], q.precisions[b : b + 1])
        integral = (torch.exp(qb.log_prob(uu) + p.log_prob(uu)).sum() * cell).item()
        assert proposal_log_normaliser(qb, p).item() == pytest.approx(np.log(integral), abs=1e-3)


def test_sequential_rounds_correct_for_the_proposal():
    """Round 2 draws from the round-1 posterior; without the correction its fit is the (narrower)
    proposal posterior, not the posterior."""
    post = MDNPosterior.fit_rounds(
        LINEAR,
        lambda theta, r: _linear(theta, 10 + r),
        X_O,
        rounds=2,
        simulations=2000,
        components=3,
        train=FAST,
        summary="toy",
        seed=0,
    )
    assert post.info.simulations == [2000, 2000]
    np.testing.assert_array_equal(post.observation, X_O)
    _assert_matches_the_analytic_posterior(post)


def test_fitting_is_seeded_and_leaves_the_global_torch_generator_alone():
    theta = LINEAR.sample(300, np.random.default_rng(0))
    x = _linear(theta, 1)
    settings = TrainSettings(epochs=3)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = MDNPosterior.fit(LINEAR, theta, x, train=settings, seed=5)
    a.sample(10, X_O, seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    b = MDNPosterior.fit(LINEAR, theta, x, train=settings, seed=5)
    c = MDNPosterior.fit(LINEAR, theta, x, train=settings, seed=6)
    wa, wb, wc = (m.estimator.state_dict() for m in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    with pytest.raises(ConfigError, match="at least 10"):
        MDNPosterior.fit(LINEAR, theta[:5], x[:5])
    with pytest.raises(ConfigError, match="outside the prior"):
        MDNPosterior.fit(LINEAR, theta * 10, x)
    with pytest.raises(ConfigError, match="summaries"):
        a.sample(5, np.ones(3))


# -------------------------------------------------------------------------------------------- files


def test_save_load_round_trip_is_exact(linear_posterior, tmp_path):
    post = linear_posterior
    post.save(tmp_path / "p")
    loaded = MDNPosterior.load(tmp_path / "p", env_id="toy/linear", summary="toy")
    np.testing.assert_array_equal(loaded.sample(500, X_O, seed=3), post.sample(500, X_O, seed=3))
    points = post.sample(20, X_O, seed=4)
    np.testing.assert_array_equal(loaded.log_prob(points, X_O, seed=2), post.log_prob(points, X_O, seed=2))
    assert loaded.prior == post.prior and loaded.network == post.network and loaded.train == post.train
    assert loaded.info == post.info and loaded.x_dim == 2
    cfg = json.loads((tmp_path / "p" / CONFIG_FILE).read_text())
    assert cfg["prior"]["env_id"] == "toy/linear" and cfg["summary"] == "toy" and cfg["x_dim"] == 2
    assert cfg["network"]["components"] == 3 and "sbi" in cfg["versions"]
    # The weights are a plain state dict: loadable without unpickling arbitrary objects.
    state = torch.load(tmp_path / "p" / WEIGHTS_FILE, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_bad_posterior_files_raise_checkpoint_errors(linear_posterior, tmp_path):
    folder = linear_posterior.save(tmp_path / "p")
    weights, config = folder / WEIGHTS_FILE, folder / CONFIG_FILE

    def one_line(err: pytest.ExceptionInfo) -> str:
        line = err.value.line()
        assert "\n" not in line
        return line

    with pytest.raises(CheckpointError, match="fitted for toy/linear, not simrl/Pendulum-v0") as err:
        MDNPosterior.load(folder, env_id="simrl/Pendulum-v0")
    one_line(err)
    with pytest.raises(CheckpointError, match="'toy' summary, not 'bayessim'"):
        MDNPosterior.load(folder, summary="bayessim")

    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(CheckpointError, match="corrupt") as err:
        MDNPosterior.load(folder)
    one_line(err)

    buf = io.BytesIO()  # a pickle of an arbitrary object: refused by weights_only=True
    torch.save({"x": Path("/")}, buf)
    weights.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="corrupt"):
        MDNPosterior.load(folder)

    buf = io.BytesIO()  # tensors, but not this network's
    torch.save({"w": torch.zeros(3)}, buf)
    weights.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="does not fit its configuration") as err:
        MDNPosterior.load(folder)
    one_line(err)

    weights.write_bytes(good)
    cfg = json.loads(config.read_text())
    config.write_text(json.dumps({**cfg, "x_dim": 5}))  # weights of another shape
    with pytest.raises(CheckpointError, match="does not fit its configuration"):
        MDNPosterior.load(folder)
    config.write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt") as err:
        MDNPosterior.load(folder)
    one_line(err)
    config.write_text(json.dumps({**cfg, "prior": {**cfg["prior"], "low": [5, 5]}}))  # low > high
    with pytest.raises(CheckpointError, match="corrupt"):
        MDNPosterior.load(folder)
    config.unlink()
    with pytest.raises(CheckpointError, match="no posterior"):
        MDNPosterior.load(folder)


def test_every_torch_load_in_inference_refuses_pickled_code():
    import re

    import simrl.inference

    calls = []
    for path in Path(simrl.inference.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "allow_pickle=True" not in text, path
        calls += re.findall(r"torch\.load\(([^)]*)\)", text)
    assert calls and all("weights_only=True" in c for c in calls)
