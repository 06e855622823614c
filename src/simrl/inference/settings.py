"""Settings of BayesSim's inference, as frozen dataclasses (no torch or sbi imported here).

:class:`TrainSettings` (how the MDN trains), :class:`Network` (its shape) and
:class:`InferenceSettings` (what to simulate, summarise and fit), with the presets' values in
:data:`PRESETS`. tests/inference/test_bayessim_pendulum.py checks ``quick`` against issue 4's
figures (accuracy at mass 1.3, length 0.8; calibration on held-out simulations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simrl.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from sbi.neural_nets.estimators import MixtureDensityEstimator


@dataclass(frozen=True)
class TrainSettings:
    """How the MDN is trained.

    Attributes:
        batch_size: simulations per gradient step.
        learning_rate: Adam's initial step size, decayed to 0 over all steps (cosine).
        epochs: passes over the training split; the epoch with the best validation loss is kept.
        validation_fraction: held out from the simulations to pick that epoch.
        clip_max_norm: gradient-norm clipping (None: off).
    """

    batch_size: int = 512
    learning_rate: float = 1e-2
    epochs: int = 200
    validation_fraction: float = 0.1
    clip_max_norm: float | None = 5.0

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.epochs < 1:
            raise ConfigError(f"batch_size and epochs must be at least 1, got {self.batch_size} and {self.epochs}")
        if not (self.learning_rate > 0 and 0 < self.validation_fraction < 1):
            raise ConfigError("learning_rate must be positive and validation_fraction in (0, 1)")


@dataclass(frozen=True)
class Network:
    """The MDN's shape: sbi's ``posterior_nn(model="mdn")``: two hidden ReLU layers, full covariances.

    Attributes:
        components: mixture components.
        hidden: width of the hidden layers.
        z_score_x: how sbi standardises the summaries (``independent``, ``structured`` or ``none``),
            with the mean and std of the first round's simulations, stored in the weights.
    """

    components: int = 5
    hidden: int = 50
    z_score_x: str = "independent"

    def __post_init__(self) -> None:
        if self.components < 1 or self.hidden < 1:
            raise ConfigError(f"an MDN needs components and hidden >= 1, got {self.components} and {self.hidden}")
        if self.z_score_x not in ("independent", "structured", "none"):
            raise ConfigError(f"z_score_x must be 'independent', 'structured' or 'none', not '{self.z_score_x}'")

    def build(self, u: torch.Tensor, x: torch.Tensor) -> MixtureDensityEstimator:
        """An untrained MDN for ``u`` (n, d) given ``x`` (n, S); ``x`` sets the z-scoring statistics."""
        from sbi.neural_nets import posterior_nn

        builder = posterior_nn(
            model="mdn",
            num_components=self.components,
            hidden_features=self.hidden,
            z_score_theta="none",  # u is already the unit box
            z_score_x=self.z_score_x,
        )
        return builder(u, x)


@dataclass(frozen=True)
class InferenceSettings:
    """What BayesSim simulates, summarises and fits.

    Attributes:
        simulations: simulations per round (parameter draws; each is ``trajectories`` episodes).
        trajectories: K, episodes per draw, and episodes recorded on the real system.
        steps: T, steps per episode.
        summary: a key of ``summaries.SUMMARIES``.
        components, hidden: the MDN's mixture components and hidden width.
        rounds: 1 for NPE; more for sequential rounds at the observation.
        train: how the MDN is trained.
    """

    simulations: int = 10_000
    trajectories: int = 5
    steps: int = 200
    summary: str = "bayessim-sa"
    components: int = 5
    hidden: int = 50
    rounds: int = 1
    train: TrainSettings = field(default_factory=TrainSettings)

    def __post_init__(self) -> None:
        from simrl.inference.summaries import SUMMARIES

        if min(self.simulations, self.trajectories, self.steps, self.rounds) < 1:
            raise ConfigError("simulations, trajectories, steps and rounds must be at least 1")
        if self.simulations < 10:
            raise ConfigError(f"fitting a posterior needs at least 10 simulations, got {self.simulations}")
        if self.summary not in SUMMARIES:
            raise ConfigError(f"unknown summary statistic '{self.summary}'", f"choose from {', '.join(SUMMARIES)}")


# Measured on the pendulum at mass 1.3, length 0.8, one torch thread (seeds 0-7 for quick, 0-3 for full):
PRESETS: dict[str, InferenceSettings] = {
    # A few seconds: a plumbing check, not an accurate posterior.
    "smoke": InferenceSettings(simulations=2_000, trajectories=2, train=TrainSettings(epochs=40)),
    # 12-15 s (simulating 2 s, fitting 10-13 s): |mean - truth| <= 0.057 (mass), 0.016 (length);
    # posterior std 0.05-0.075 (mass), 0.016-0.028 (length); 90% HPD coverage 0.885-0.94.
    "quick": InferenceSettings(),
    # About 55 s: a second round of 10,000 at the observation; posterior std 0.038-0.047 (mass),
    # 0.012-0.015 (length); |mean - truth| 0.008-0.093 (mass).
    "full": InferenceSettings(rounds=2),
}
