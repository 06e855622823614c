"""The BayesSim posterior: an sbi mixture density network ``q(theta | x)`` behind a small class.

:class:`MDNPosterior` is NPE with sbi's MDN (``posterior_nn(model="mdn")``), trained by
:mod:`simrl.inference.training`; it samples and scores the posterior within the prior box and
saves itself without pickle (:mod:`simrl.inference.posterior_io`).

Sequential rounds (:meth:`MDNPosterior.fit_rounds`) follow BayesSim and sbi's SNPE-C with an MDN:
round 1 simulates from the prior; each later round simulates from the current posterior at the
observation (rejection-restricted to the prior box), warm-starts the network and trains with the
closed-form mixture-proposal correction. Unlike sbi 0.27, which trains a later round on that
round's simulations only (its non-atomic loss takes one proposal), every round trains on all
simulations so far, each under the proposal it was drawn from: the prior's simulations keep the
network's mass inside the box, where training on the narrow proposal's alone let it leak out.
As in sbi, the correction treats the proposal as the untruncated mixture (the box truncation's
normaliser is ignored).

Randomness: every method takes a ``seed``; torch's random numbers come from a
``torch.Generator`` or are drawn inside ``torch.random.fork_rng``, so the caller's global torch
state is left as it was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simrl.errors import ConfigError
from simrl.inference.estimator import FitInfo, require_sbi, seeded
from simrl.inference.prior import BoxPrior
from simrl.inference.settings import Network, TrainSettings

if TYPE_CHECKING:
    import torch
    from sbi.neural_nets.estimators import MixtureDensityEstimator

MAX_REJECTION_ROUNDS = 200  # draws of n per observation before giving up on a posterior outside the box


def _tensor(a: np.ndarray) -> torch.Tensor:
    import torch

    return torch.as_tensor(np.asarray(a, dtype=np.float32))


class MDNPosterior:
    """An amortised posterior ``q(theta | x)``: a mixture density network over the prior's parameters.

    Build it with :meth:`fit` or :meth:`fit_rounds`, or read it with :meth:`load`. Samples lie in
    the prior box; densities are those of the mixture truncated to the box.

    Attributes:
        prior: the prior it was trained under.
        estimator: sbi's ``MixtureDensityEstimator`` of ``u`` (theta scaled to [-1, 1]^d) given ``x``.
        summary: the name of the summary statistic its ``x`` are (see ``summaries.SUMMARIES``).
        x_dim: length of ``x``.
        network, train: the MDN's shape and its training settings.
        observation: for a sequential fit, the ``x_o`` its later rounds targeted (None for one round);
            the posterior is accurate near it only.
        info: what training did.
    """

    def __init__(
        self,
        prior: BoxPrior,
        estimator: MixtureDensityEstimator,
        *,
        summary: str,
        network: Network,
        train: TrainSettings,
        observation: np.ndarray | None = None,
        info: FitInfo | None = None,
    ) -> None:
        self.prior = prior
        self.estimator = estimator.eval()
        self.summary = summary
        self.network = network
        self.train = train
        self.observation = None if observation is None else np.asarray(observation, dtype=np.float64).ravel()
        self.info = info or FitInfo()
        self.x_dim = int(estimator.condition_shape[0])

    # -- fitting ------------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        prior: BoxPrior,
        theta: np.ndarray,
        x: np.ndarray,
        *,
        components: int = 5,
        hidden: int = 50,
        train: TrainSettings | None = None,
        summary: str = "bayessim",
        seed: int = 0,
    ) -> MDNPosterior:
        """Fit ``q(theta | x)`` to simulations drawn from the prior (single-round NPE).

        Args:
            prior: the prior ``theta`` was drawn from.
            theta: (n, d) parameters.
            x: (n, S) their summaries.
            components: mixture components.
            hidden: width of the two hidden layers.
            train: training settings (``TrainSettings()`` if None).
            summary: the name of the summary statistic ``x`` holds (recorded, checked on load).
            seed: seeds the weights, the validation split and the batches.

        Raises:
            ConfigError: mismatched or non-finite arrays, too few simulations, theta outside the prior.
        """
        return cls.fit_rounds(
            prior,
            _no_simulator,
            None,
            rounds=1,
            simulations=len(theta),
            components=components,
            hidden=hidden,
            train=train,
            summary=summary,
            seed=seed,
            first_round=(theta, x),
        )

    @classmethod
    def fit_rounds(
        cls,
        prior: BoxPrior,
        simulator: Callable[[np.ndarray, int], np.ndarray],
        x_o: np.ndarray | None,
        *,
        rounds: int,
        simulations: int,
        components: int = 5,
        hidden: int = 50,
        train: TrainSettings | None = None,
        summary: str = "bayessim",
        seed: int = 0,
        first_round: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> MDNPosterior:
        """Sequential NPE (BayesSim's iterations): later rounds simulate from the posterior at ``x_o``.

        Args:
            prior: the prior of round 1.
            simulator: ``(theta (n, d), round) -> x (n, S)``; ``round`` counts from 0, so the caller
                can draw each round's initial states from a new stream.
            x_o: the observation's summary, (S,) or (1, S); may be None when ``rounds == 1``.
            rounds: R >= 1; R = 1 is single-round NPE.
            simulations: simulations per round.
            first_round: round 1's ``(theta, x)`` if already simulated from the prior (then
                ``simulations`` applies to later rounds only).
            components, hidden, train, summary, seed: as for :meth:`fit`.

        Raises:
            ConfigError: ``rounds`` or ``simulations`` below 1, mismatched arrays, no ``x_o`` for R > 1.
        """
        require_sbi()
        import torch

        if rounds < 1 or simulations < 1:
            raise ConfigError(f"rounds and simulations must be at least 1, got {rounds} and {simulations}")
        network = Network(components, hidden)
        train = train or TrainSettings()
        seeds = np.random.SeedSequence(seed)
        rng = np.random.default_rng(seeds.spawn(1)[0])
        if first_round is None:
            theta = prior.sample(simulations, rng)
            first_round = (theta, simulator(theta, 0))
        theta, x = _check_data(prior, *first_round)
        if rounds > 1:
            if x_o is None:
                raise ConfigError("sequential rounds need the observation x_o")
            x_o = np.asarray(x_o, dtype=np.float64).reshape(1, -1)
            if x_o.shape[1] != x.shape[1] or not np.all(np.isfinite(x_o)):
                raise ConfigError(f"the observation needs {x.shape[1]} finite summaries, got shape {x_o.shape}")
        batches_seed, weights_seed = (int(s) for s in seeds.generate_state(2))
        generator = torch.Generator().manual_seed(batches_seed)
        info = FitInfo()
        with seeded(weights_seed):  # sbi's builder initialises the weights from torch's global generator
            estimator = network.build(_tensor(prior.to_unit(theta)), _tensor(x))
        posterior = cls(prior, estimator, summary=summary, network=network, train=train, info=info)
        thetas, xs, proposals = [theta], [x], [None]
        posterior._train_round(thetas, xs, proposals, generator)
        for r in range(1, rounds):
            with torch.no_grad():  # the mixture at x_o, fixed from here on
                proposals.append(posterior.estimator.get_uncorrected_mog(_tensor(x_o)))
            theta = posterior.sample(simulations, x_o, seed=int(rng.integers(2**31)))
            theta, x = _check_data(prior, theta, simulator(theta, r))
            thetas.append(theta)
            xs.append(x)
            posterior._train_round(thetas, xs, proposals, generator)
        if rounds > 1:
            posterior.observation = x_o.ravel()
        return posterior

    def _train_round(
        self, thetas: list[np.ndarray], xs: list[np.ndarray], proposals: list[Any], generator: torch.Generator
    ) -> None:
        """Train on every round so far, each simulation under the proposal of its round."""
        import torch

        from simrl.inference import training

        start = time.perf_counter()
        u = _tensor(self.prior.to_unit(np.concatenate(thetas)))
        group = torch.cat([torch.full((len(t),), i, dtype=torch.long) for i, t in enumerate(thetas)])
        result = training.train(self.estimator, u, _tensor(np.concatenate(xs)), self.train, generator, group, proposals)
        self.info.simulations.append(len(thetas[-1]))
        self.info.best_epoch.append(result.best_epoch)
        self.info.best_val_log_prob.append(result.best_val_log_prob + self.prior.unit_log_det)
        self.info.seconds.append(time.perf_counter() - start)

    # -- the distribution at one observation --------------------------------------------------------

    def sample(self, n: int, x_o: np.ndarray, seed: int = 0) -> np.ndarray:
        """``n`` draws from ``q(theta | x_o)`` restricted to the prior box, (n, d) float64."""
        return self.sample_batch(n, self._x(x_o), seed=seed)[:, 0]

    def log_prob(self, theta: np.ndarray, x_o: np.ndarray, *, seed: int = 0, mass_samples: int = 10_000) -> np.ndarray:
        """Log density of each row of ``theta`` (n, d) under ``q(theta | x_o)`` truncated to the prior box.

        The truncation's normaliser, the mixture's mass inside the box, is estimated from
        ``mass_samples`` draws of ``seed``; rows outside the box get ``-inf``.
        """
        theta = np.asarray(theta, dtype=np.float64).reshape(-1, self.prior.dim)
        x = self._x(x_o)
        raw = self.log_prob_batch(theta[:, None, :], x)[:, 0]
        out = raw - math.log(self.mass_in_box(x, n=mass_samples, seed=seed)[0])
        return np.where(self.prior.contains(theta), out, -np.inf)

    def mean(self, x_o: np.ndarray, *, n: int = 10_000, seed: int = 0) -> np.ndarray:
        """The posterior mean (d,), a Monte Carlo estimate from ``n`` box-restricted draws."""
        return self.sample(n, x_o, seed=seed).mean(axis=0)

    def map(self, x_o: np.ndarray, *, seed: int = 0, init_samples: int = 1_000, steps: int = 200) -> np.ndarray:
        """The mode (d,) of the box-restricted posterior.

        The best of ``init_samples`` posterior draws, refined by ``steps`` Adam steps of gradient
        ascent on ``log q`` with the iterate kept in the box (the mixture is smooth: a few steps
        reach the mode of the component it starts in).
        """
        import torch

        x = _tensor(self._x(x_o))
        draws = _tensor(self.prior.to_unit(self.sample(init_samples, x_o, seed=seed)))
        with torch.no_grad():
            best = draws[torch.argmax(self.estimator.log_prob(draws[:, None], x)[:, 0])]
        u = best.clone()[None].requires_grad_(True)
        optimizer = torch.optim.Adam([u], lr=1e-3)
        for _ in range(steps):
            optimizer.zero_grad()
            (-self.estimator.log_prob(u[None], x).sum()).backward()
            optimizer.step()
            with torch.no_grad():
                u.clamp_(-1.0, 1.0)
        return self.prior.from_unit(u.detach().numpy()[0])

    def sampler(self, x_o: np.ndarray, base: Mapping[str, float] | None = None) -> PosteriorSampler:
        """A ``ParamSampler`` over the env's full parameter vector drawing from ``q(theta | x_o)``."""
        return PosteriorSampler(self, x_o, base)

    # -- batched over observations (diagnostics) ----------------------------------------------------

    def sample_batch(self, n: int, xs: np.ndarray, *, seed: int = 0) -> np.ndarray:
        """``n`` box-restricted draws for each row of ``xs`` (B, S): shape (n, B, d) float64.

        Raises:
            ConfigError: a posterior with (almost) no mass in the box for some ``x``.
        """
        import torch

        xs = _tensor(xs).reshape(-1, self.x_dim)
        out = np.empty((n, len(xs), self.prior.dim))
        filled = np.zeros(len(xs), dtype=np.int64)
        with seeded(seed), torch.no_grad():
            for _ in range(MAX_REJECTION_ROUNDS):
                todo = np.flatnonzero(filled < n)
                if not len(todo):
                    return np.clip(self.prior.from_unit(out), self.prior.low, self.prior.high)  # float rounding
                draws = self.estimator.sample((n,), xs[todo]).numpy().astype(np.float64)  # (n, b, d)
                inside = np.all(np.abs(draws) <= 1.0, axis=-1)
                for j, b in enumerate(todo):
                    ok = draws[inside[:, j], j]
                    take = min(len(ok), n - filled[b])
                    out[filled[b] : filled[b] + take, b] = ok[:take]
                    filled[b] += take
        raise ConfigError(
            f"the posterior puts almost no mass inside the prior box for {int(np.sum(filled < n))} observation(s)",
            "the observation may be one the prior cannot simulate",
        )

    def log_prob_batch(self, theta: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Untruncated mixture log densities of ``theta`` (n, B, d) under each row of ``xs`` (B, S): (n, B).

        Inside the box this differs from the truncated density by ``log mass_in_box(x)``, the
        same for every ``theta`` of one ``x``: enough to rank draws (HPD regions).
        """
        import torch

        u = _tensor(self.prior.to_unit(theta))
        with torch.no_grad():
            lp = self.estimator.log_prob(u, _tensor(xs).reshape(-1, self.x_dim)).numpy().astype(np.float64)
        return lp + self.prior.unit_log_det

    def mass_in_box(self, xs: np.ndarray, *, n: int = 10_000, seed: int = 0) -> np.ndarray:
        """The mixture's probability of the prior box for each row of ``xs``, (B,), from ``n`` draws each."""
        import torch

        xs = _tensor(xs).reshape(-1, self.x_dim)
        with seeded(seed), torch.no_grad():
            draws = self.estimator.sample((n,), xs).numpy()
        return np.maximum(np.all(np.abs(draws) <= 1.0, axis=-1).mean(axis=0), 1.0 / n)

    def _x(self, x_o: np.ndarray) -> np.ndarray:
        if np.size(x_o) != self.x_dim:
            raise ConfigError(f"an observation must have {self.x_dim} summaries, got shape {np.shape(x_o)}")
        x = np.asarray(x_o, dtype=np.float64).reshape(1, self.x_dim)
        if not np.all(np.isfinite(x)):
            raise ConfigError("the observation's summaries are not all finite")
        return x

    # -- files --------------------------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``weights.pt`` then ``posterior.json`` into ``folder`` (see :mod:`posterior_io`)."""
        from simrl.inference import posterior_io

        return posterior_io.save(self, folder)

    @classmethod
    def load(cls, folder: str | Path, *, env_id: str | None = None, summary: str | None = None) -> MDNPosterior:
        """Read a posterior saved by :meth:`save`, unpickling nothing (see :func:`posterior_io.read`).

        Raises:
            CheckpointError: a missing, corrupt or truncated file, weights that do not fit the
                configuration, a posterior for another env (``env_id``) or summary (``summary``).
        """
        from simrl.inference import posterior_io

        p = posterior_io.read(folder, env_id=env_id, summary=summary)
        return cls(
            p.prior,
            p.estimator,
            summary=p.summary,
            network=p.network,
            train=p.train,
            observation=p.observation,
            info=p.info,
        )

    def __repr__(self) -> str:
        return (
            f"MDNPosterior({self.prior!r}, summary={self.summary}, x_dim={self.x_dim}, "
            f"components={self.network.components}, hidden={self.network.hidden})"
        )


class PosteriorSampler:
    """A ``ParamSampler`` for the env's full parameter vector: the inferred ones from the posterior.

    ``sample(n, rng)`` draws ``q(theta | x_o)`` with a seed taken from ``rng`` and writes the draws
    into the inferred columns of ``base`` (the env's defaults, overridden by ``base``).
    """

    def __init__(self, posterior: MDNPosterior, x_o: np.ndarray, base: Mapping[str, float] | None = None) -> None:
        from simrl.envs.vec import param_space

        space = param_space(posterior.prior.env_id)
        self.posterior, self.x_o = posterior, posterior._x(x_o)
        self._vector = space.make(base).vector
        self._cols = np.array([space.index(n) for n in posterior.prior.names], dtype=np.int64)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.tile(self._vector, (n, 1))
        out[:, self._cols] = self.posterior.sample(n, self.x_o, seed=int(rng.integers(2**31)))
        return out


# ------------------------------------------------------------------------------------------ internals


def _no_simulator(theta: np.ndarray, round_: int) -> np.ndarray:
    raise AssertionError("single-round fits are given their simulations")


def _check_data(prior: BoxPrior, theta: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    theta = np.asarray(theta, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if theta.ndim != 2 or theta.shape[1] != prior.dim or x.ndim != 2 or len(x) != len(theta):
        raise ConfigError(f"need theta (n, {prior.dim}) and x (n, S), got {theta.shape} and {x.shape}")
    if len(theta) < 10:
        raise ConfigError(f"fitting a posterior needs at least 10 simulations, got {len(theta)}")
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(x))):
        raise ConfigError("the simulations contain NaN or infinite values")
    if not np.all(prior.contains(theta)):
        raise ConfigError("some simulated parameters lie outside the prior box")
    return theta, x
