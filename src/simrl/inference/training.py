"""Training the MDN: sbi's mixture density network, sbi's NPE losses, a faster loop.

The network is sbi's (``posterior_nn(model="mdn")``) and so are the losses: maximum likelihood
``-log q(theta | x)`` for simulations from the prior, and SNPE-C's closed-form "non-atomic" loss
for simulations from a mixture proposal (Greenberg et al. 2019, App. A1; what sbi's ``NPE_C``
does with an MDN), written here as ``log q(u | x) + log p(u) - log Z(x)``. The loop is
ours because sbi's ``train()`` spends most of its time fetching batches item by item through a
``DataLoader`` and has no learning-rate schedule: on 10,000 pendulum simulations it needs about a
minute at its defaults, this loop (whole-tensor batches, Adam with cosine decay, the best
validation epoch kept) about ten seconds for a better held-out log-prob (bench/bayessim_fit.py).

The network models ``u``, the parameters scaled from the prior box to [-1, 1]^d
(:meth:`BoxPrior.to_unit`): a fixed transform, the same in every round, so a proposal from an
earlier round and the current network share one space.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from sbi.neural_nets.estimators import MixtureDensityEstimator
from sbi.neural_nets.estimators.mog import MoG

from simrl.errors import ConfigError
from simrl.inference.settings import TrainSettings

# ------------------------------------------------------------------------------------------ losses


def proposal_log_normaliser(q: MoG, p: MoG) -> torch.Tensor:
    """``log Z(x) = log of the integral of q(u | x) p(u) du`` for mixtures ``q`` (batch B) and ``p`` (batch 1): (B,).

    ``N(u; mu_k, S_k) N(u; m_l, T_l) = N(mu_k; m_l, S_k + T_l) N(u; .)``, so
    ``Z = sum_kl a_k b_l N(mu_k; m_l, S_k + T_l)``.
    """
    d = q.means.shape[-1]
    cov = torch.linalg.inv(q.precisions)[:, :, None] + torch.linalg.inv(p.precisions)[:, None, :]  # (B, K, L, d, d)
    diff = q.means[:, :, None] - p.means[:, None, :]
    _, logdet = torch.linalg.slogdet(cov)
    quad = (diff * torch.linalg.solve(cov, diff)).sum(-1)
    log_n = -0.5 * (quad + logdet + d * math.log(2 * math.pi))
    return torch.logsumexp(q.log_weights[:, :, None] + p.log_weights[:, None, :] + log_n, dim=(1, 2))


def _rows(mog: MoG, idx: torch.Tensor) -> MoG:
    return MoG(mog.logits[idx], mog.means[idx], mog.precisions[idx], mog.precision_factors[idx])


def log_prob_rows(
    estimator: MixtureDensityEstimator,
    u: torch.Tensor,
    x: torch.Tensor,
    group: torch.Tensor,
    proposals: Sequence[MoG | None],
    log_proposal: torch.Tensor,
) -> torch.Tensor:
    """Per row, the log-likelihood NPE maximises: ``log q(u | x)`` for rows simulated from the prior
    (``proposals[group] is None``) and, for rows simulated from a mixture proposal ``p``, the log
    of the proposal posterior ``q(u | x) p(u) / Z(x)`` (SNPE-C's closed form for mixtures; the
    uniform prior's density is a constant and drops out). ``log_proposal`` holds ``log p(u)`` per row.
    """
    q = estimator.get_uncorrected_mog(x)
    out = q.log_prob(u)
    for g, p in enumerate(proposals):
        if p is None:
            continue
        idx = torch.nonzero(group == g).flatten()
        if len(idx):
            corr = log_proposal[idx] - proposal_log_normaliser(_rows(q, idx), p)
            out = out.index_add(0, idx, corr)
    return out


# ------------------------------------------------------------------------------------------- the loop


@dataclass
class TrainResult:
    epochs: int
    best_epoch: int
    best_val_log_prob: float  # mean log q(u | x) (or the proposal posterior's) on the validation split


def train(
    estimator: MixtureDensityEstimator,
    u: torch.Tensor,
    x: torch.Tensor,
    settings: TrainSettings,
    generator: torch.Generator,
    group: torch.Tensor | None = None,
    proposals: Sequence[MoG | None] = (None,),
) -> TrainResult:
    """Fit ``estimator`` in place to ``(u, x)``; it ends with the weights of its best validation epoch.

    Args:
        estimator: the MDN (trained further if it was trained before).
        u, x: (n, d) parameters in the unit box and (n, S) summaries.
        settings: batch size, learning rate, epochs, ...
        generator: draws the validation split and the batches.
        group: (n,) index into ``proposals`` of the distribution each row was simulated from
            (all 0 if None).
        proposals: None for the prior, else the mixture (batch 1) a round drew from.
    """
    n = len(u)
    group = torch.zeros(n, dtype=torch.long) if group is None else group
    with torch.no_grad():
        log_proposal = torch.zeros(n)
        for g, p in enumerate(proposals):
            if p is not None:
                log_proposal[group == g] = p.log_prob(u[group == g])
    n_val = max(1, round(settings.validation_fraction * n))
    if n - n_val < 1:
        raise ConfigError(f"{n} simulations leave nothing to train on after the validation split")
    perm = torch.randperm(n, generator=generator)
    val, trn = perm[:n_val], perm[n_val:]

    def mean_log_prob(idx: torch.Tensor) -> torch.Tensor:
        return log_prob_rows(estimator, u[idx], x[idx], group[idx], proposals, log_proposal[idx]).mean()

    steps_per_epoch = math.ceil(len(trn) / settings.batch_size)
    optimizer = torch.optim.Adam(estimator.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.epochs * steps_per_epoch)
    best, best_epoch, best_state = -math.inf, -1, None
    for epoch in range(settings.epochs):
        estimator.train()
        order = trn[torch.randperm(len(trn), generator=generator)]
        for i in range(0, len(trn), settings.batch_size):
            loss = -mean_log_prob(order[i : i + settings.batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if settings.clip_max_norm is not None:
                torch.nn.utils.clip_grad_norm_(estimator.parameters(), settings.clip_max_norm)
            optimizer.step()
            schedule.step()
        estimator.eval()
        with torch.no_grad():
            score = float(mean_log_prob(val))
        if score > best:  # also false for NaN
            best, best_epoch = score, epoch
            best_state = {k: v.detach().clone() for k, v in estimator.state_dict().items()}
    if best_state is None:
        raise ConfigError("training diverged: the validation loss was never finite", "lower the learning rate")
    estimator.load_state_dict(best_state)
    estimator.eval()
    return TrainResult(settings.epochs, best_epoch + 1, best)
