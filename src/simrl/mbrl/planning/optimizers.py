"""Trajectory optimisers for MPC: random shooting, CEM and iCEM, batched over independent problems.

Every optimiser searches action sequences for ``B`` planning problems at once (one per env of a
vector env). A population is a float32 tensor ``[B, C, H, A]`` (``C`` candidates, horizon ``H``,
action dimension ``A``); the objective maps it to returns ``[B, C]`` (higher is better) and is called
once per iteration with the whole population, since it runs the learned model, the expensive part.

An optimiser is a frozen dataclass of settings with four methods; what it carries from one time step
to the next lives in a :class:`PlanState`, one row per problem::

    state = opt.initial(batch, horizon, low, high)
    state = opt.reset(state, episode_start)  # rows whose episode has just begun start afresh
    plan, state = opt.plan(objective, state, low, high, generator=gen)  # execute plan[:, 0]

``plan`` returns the state for the next time step, already shifted by one step (mbrl-lib's
``TrajectoryOptimizer`` shift initialisation). Samples are clipped to the bounds (not drawn from a
truncated normal): clipping puts mass on the bounds, where the optimum of a saturating controller
often is. All randomness comes from the given ``torch.Generator``; everything runs on the device of
``state.mean``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from simrl.errors import ConfigError
from simrl.mbrl.planning.noise import colored_noise

Objective = Callable[[Tensor], Tensor]
"""``objective(actions [B, C, H, A]) -> returns [B, C]``: higher is better; NaN counts as the worst."""


@dataclass(frozen=True)
class PlanState:
    """What a planner carries from one time step to the next, one row per planning problem."""

    mean: Tensor
    """``[B, H, A]``: the sampling distribution's mean (random shooting: the previous best plan), shifted."""
    kept: Tensor | None
    """iCEM: ``[B, K, H, A]``, the best elites of the last plan, shifted; NaN entries (the new last step,
    and whole rows just reset) are drawn afresh at the next plan. ``None`` for the other optimisers."""
    init: Tensor
    """``[A]``: the initial action (the centre of the bounds): a reset row's plan, and the step appended
    at the end of a shifted plan."""


class Optimizer(Protocol):
    """What the MPC agent needs from a trajectory optimiser."""

    def check(self) -> None: ...

    def initial(self, batch: int, horizon: int, low: Tensor, high: Tensor) -> PlanState: ...

    def reset(self, state: PlanState, rows: Tensor) -> PlanState: ...

    def plan(
        self, objective: Objective, state: PlanState, low: Tensor, high: Tensor, *, generator: torch.Generator
    ) -> tuple[Tensor, PlanState]: ...


# ------------------------------------------------------------------------------------- shared pieces


def _require(ok: bool, what: str, hint: str) -> None:
    if not ok:
        raise ConfigError(what, hint)


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _check_cem(opt: CEM | ICEM, hint: str) -> None:
    name = type(opt).__name__
    for option in ("population", "elites", "iterations"):
        _require(_is_int(getattr(opt, option)), f"{option} must be an integer, got {getattr(opt, option)!r}", hint)
    for option in ("alpha", "init_std"):
        _require(_is_real(getattr(opt, option)), f"{option} must be a number, got {getattr(opt, option)!r}", hint)
    _require(opt.iterations >= 1, f"iterations must be at least 1, got {opt.iterations}", hint)
    _require(opt.elites >= 2, f"elites must be at least 2 (one elite has no spread), got {opt.elites}", hint)
    _require(
        opt.elites <= opt.population,
        f"elites must be at most population ({opt.population}), got {opt.elites}",
        f"{name}: lower elites or raise population",
    )
    _require(0 <= opt.alpha < 1, f"alpha must be in [0, 1), got {opt.alpha}", f"{name}: 0 keeps no momentum")
    _require(0 < opt.init_std < math.inf, f"init_std must be positive, got {opt.init_std}", hint)


def _bounds(low: Tensor, high: Tensor, like: Tensor) -> tuple[Tensor, Tensor]:
    low = torch.as_tensor(low, dtype=torch.float32, device=like.device)
    high = torch.as_tensor(high, dtype=torch.float32, device=like.device)
    return low, high


def _shift(seq: Tensor, fill: Tensor | float) -> Tensor:
    """``seq [..., H, A]`` one time step on: the first action dropped, ``fill`` (``[A]`` or a number) appended."""
    tail = torch.as_tensor(fill, dtype=seq.dtype, device=seq.device).expand(*seq.shape[:-2], 1, seq.shape[-1])
    return torch.cat([seq[..., 1:, :], tail], dim=-2)


def _evaluate(objective: Objective, actions: Tensor) -> Tensor:
    values = objective(actions)
    if values.shape != actions.shape[:2]:
        raise ValueError(f"the objective returned shape {tuple(values.shape)}, expected {tuple(actions.shape[:2])}")
    return values.float().masked_fill(values.isnan(), -math.inf)  # a NaN return never wins


def _top(values: Tensor, actions: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per row, the ``k`` best returns ``[B, k]`` (best first) and their sequences ``[B, k, H, A]``."""
    best, idx = values.topk(k, dim=1)
    return best, torch.take_along_dim(actions, idx[:, :, None, None], dim=1)


def _init_std(init_std: float, low: Tensor, high: Tensor, like: Tensor) -> Tensor:
    return (init_std * (high - low) / 2).expand_as(like)


def _refit(elites: Tensor, mean: Tensor, std: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    """The elites' ``[B, K, H, A]`` mean and std (divisor K), mixed in: ``alpha * old + (1 - alpha) * new``."""
    elite_mean = elites.mean(dim=1)
    elite_std = (elites - elite_mean[:, None]).square_().mean(dim=1).sqrt_()  # torch.std is 2x slower here
    return torch.lerp(elite_mean, mean, alpha), torch.lerp(elite_std, std, alpha)


class _Planner:
    """``initial`` and ``reset``, shared; a subclass with kept elites overrides ``_kept``."""

    def check(self) -> None:
        raise NotImplementedError

    def _kept(self, batch: int, horizon: int, init: Tensor) -> Tensor | None:
        return None

    def initial(self, batch: int, horizon: int, low: Tensor, high: Tensor) -> PlanState:
        """The state before the first plan: the mean at the centre of the bounds, on ``low``'s device.

        Raises:
            ConfigError: a setting out of range (see ``check``).
        """
        self.check()
        low = torch.as_tensor(low, dtype=torch.float32)
        high = torch.as_tensor(high, dtype=torch.float32, device=low.device)
        if low.ndim != 1 or low.shape != high.shape or not bool((low <= high).all()):
            raise ValueError(f"low and high must be [A] with low <= high, got {low.tolist()} and {high.tolist()}")
        init = (low + high) / 2
        mean = init.expand(batch, horizon, init.numel()).clone()
        return PlanState(mean, self._kept(batch, horizon, init), init)

    def reset(self, state: PlanState, rows: Tensor) -> PlanState:
        """``state`` with the rows marked in ``rows`` (bool ``[B]``, e.g. episode starts) back to the initial state."""
        rows = torch.as_tensor(rows, dtype=torch.bool, device=state.mean.device)
        mean = torch.where(rows[:, None, None], state.init, state.mean)
        kept = None if state.kept is None else state.kept.masked_fill(rows[:, None, None, None], math.nan)
        return replace(state, mean=mean, kept=kept)


# ------------------------------------------------------------------------------------ the optimisers


@dataclass(frozen=True)
class RandomShooting(_Planner):
    """Uniform random action sequences; the best one wins.

    One of the candidates is the previous plan, shifted (``state.mean``), so a plan never starts from
    less than what the last step found.
    """

    candidates: int = 1000
    """Action sequences evaluated per plan (the previous plan included)."""

    def check(self) -> None:
        """Raises ``ConfigError`` for a setting out of range."""
        _require(
            _is_int(self.candidates) and self.candidates >= 1,
            f"candidates must be a positive integer, got {self.candidates!r}",
            "RandomShooting: 1000 is a usual start",
        )

    def plan(
        self, objective: Objective, state: PlanState, low: Tensor, high: Tensor, *, generator: torch.Generator
    ) -> tuple[Tensor, PlanState]:
        """The best of ``candidates`` sequences ``[B, H, A]`` and the next step's state (that plan, shifted)."""
        low, high = _bounds(low, high, state.mean)
        batch, horizon, dim = state.mean.shape
        actions = torch.rand((batch, self.candidates, horizon, dim), generator=generator, device=low.device)
        actions = actions.mul_(high - low).add_(low)
        actions[:, 0] = state.mean
        values = _evaluate(objective, actions)
        best = actions[torch.arange(batch, device=low.device), values.argmax(dim=1)]
        return best, replace(state, mean=_shift(best, state.init))


@dataclass(frozen=True)
class CEM(_Planner):
    """The cross-entropy method (PETS' CEM): a diagonal Gaussian refit to the elites, with momentum.

    Each iteration samples ``population`` sequences from ``N(mean, std)`` clipped to the bounds, and
    moves ``mean <- alpha * mean + (1 - alpha) * elite_mean`` (``std`` likewise, from the elites'
    standard deviation). The plan is the final mean, not the best sample (mbrl-lib's PR #70: the
    mean averages out the model's noise that a single lucky sample exploits).
    """

    population: int = 500
    """Sequences sampled per iteration."""
    elites: int = 50
    """The best sequences the distribution is refit to, ``2 <= elites <= population``."""
    iterations: int = 5
    """Refits per plan (one objective call each)."""
    alpha: float = 0.1
    """Momentum in ``[0, 1)``: the weight of the old mean and std in each refit."""
    init_std: float = 0.5
    """The initial std, as a fraction of the bounds' half-range (0.5: a quarter of the range, as PETS)."""

    def check(self) -> None:
        """Raises ``ConfigError`` for a setting out of range."""
        _check_cem(self, "CEM: defaults are population 500, elites 50, iterations 5, alpha 0.1")

    def plan(
        self, objective: Objective, state: PlanState, low: Tensor, high: Tensor, *, generator: torch.Generator
    ) -> tuple[Tensor, PlanState]:
        """The final mean ``[B, H, A]`` and the next step's state (that mean, shifted)."""
        low, high = _bounds(low, high, state.mean)
        mean = state.mean
        std = _init_std(self.init_std, low, high, mean)
        batch, horizon, dim = mean.shape
        for _ in range(self.iterations):
            noise = torch.randn((batch, self.population, horizon, dim), generator=generator, device=mean.device)
            actions = noise.mul_(std[:, None]).add_(mean[:, None]).clamp_(low, high)
            _, elites = _top(_evaluate(objective, actions), actions, self.elites)
            mean, std = _refit(elites, mean, std, self.alpha)
        return mean, replace(state, mean=_shift(mean, state.init))


@dataclass(frozen=True)
class ICEM(_Planner):
    """iCEM (Pinneri et al. 2020, "Sample-efficient Cross-Entropy Method for Real-time Planning").

    CEM with: colored noise along time (power spectrum ``~ 1/f**noise_beta``); a population that
    shrinks by ``decay`` per iteration, to no fewer than ``2 * elites``; the best ``keep_elites``
    fraction of the elites carried into the next iteration with their returns (not re-evaluated) and,
    shifted by one step (a fresh last action), into the next time step's first iteration; the mean
    itself as a candidate in the last iteration (it replaces one sample, as the authors' code does).
    The plan is the best sequence found, as the paper executes; the next step starts from the final
    mean, shifted, and the std from ``init_std`` again.

    Objective calls per plan: ``population + kept`` sequences first, then
    ``max(ceil(population / decay**i), 2 * elites)`` at iteration ``i``.
    """

    population: int = 300
    """Sequences sampled in the first iteration."""
    elites: int = 10
    """The best sequences the distribution is refit to, ``2 <= 2 * elites <= population``."""
    iterations: int = 3
    """Refits per plan (one objective call each)."""
    alpha: float = 0.1
    """Momentum in ``[0, 1)``: the weight of the old mean and std in each refit."""
    init_std: float = 0.5
    """The initial std, as a fraction of the bounds' half-range."""
    noise_beta: float = 2.0
    """The colored noise's exponent: 0 white, 2 red (smooth); the paper uses 2-2.5 (0.25 for HalfCheetah).
    Red noise barely explores step-to-step changes: on an optimum that is white noise in time it stalls."""
    decay: float = 1.25
    """The population shrinks by this factor per iteration (``>= 1``)."""
    keep_elites: float = 0.3
    """The fraction of elites kept (rounded up) into the next iteration and the next time step, in ``[0, 1]``."""

    def check(self) -> None:
        """Raises ``ConfigError`` for a setting out of range."""
        hint = "ICEM: defaults are population 300, elites 10, iterations 3, noise_beta 2, decay 1.25"
        _check_cem(self, hint)
        _require(
            2 * self.elites <= self.population,
            f"population must be at least 2 * elites ({2 * self.elites}), got {self.population}",
            "ICEM: the population never shrinks below 2 * elites",
        )
        for option in ("noise_beta", "decay", "keep_elites"):
            value = getattr(self, option)
            _require(_is_real(value) and math.isfinite(value), f"{option} must be a number, got {value!r}", hint)
        _require(self.noise_beta >= 0, f"noise_beta must be at least 0, got {self.noise_beta}", hint)
        _require(self.decay >= 1, f"decay must be at least 1, got {self.decay}", hint)
        _require(0 <= self.keep_elites <= 1, f"keep_elites must be in [0, 1], got {self.keep_elites}", hint)

    @property
    def kept(self) -> int:
        """How many elites are kept: ``ceil(keep_elites * elites)``."""
        return math.ceil(self.keep_elites * self.elites)

    def sizes(self) -> list[int]:
        """The sampled population of each iteration (the kept elites not included)."""
        return [max(math.ceil(self.population / self.decay**i - 1e-9), 2 * self.elites) for i in range(self.iterations)]

    def _kept(self, batch: int, horizon: int, init: Tensor) -> Tensor:
        return torch.full((batch, self.kept, horizon, init.numel()), math.nan, device=init.device)

    def plan(
        self, objective: Objective, state: PlanState, low: Tensor, high: Tensor, *, generator: torch.Generator
    ) -> tuple[Tensor, PlanState]:
        """The best sequence found ``[B, H, A]`` and the next step's state (final mean and kept elites, shifted)."""
        low, high = _bounds(low, high, state.mean)
        mean = state.mean
        std = _init_std(self.init_std, low, high, mean)
        batch, horizon, dim = mean.shape
        keep = self.kept
        carried = state.kept if state.kept is not None else self._kept(batch, horizon, state.init)
        carried_values: Tensor | None = None  # returns of the elites carried between iterations
        best_value = torch.full((batch,), -math.inf, device=mean.device)
        best = mean
        last = self.iterations - 1
        for i, size in enumerate(self.sizes()):
            extra = keep if i == 0 else 0  # the previous step's elites are re-evaluated from this state
            shape = (batch, size + extra, dim, horizon)  # time last, for the FFT
            noise = colored_noise(shape, self.noise_beta, generator=generator, device=mean.device)
            actions = (noise.transpose(-1, -2) * std[:, None] + mean[:, None]).clamp_(low, high).contiguous()
            if extra:
                actions[:, size:] = torch.where(carried.isnan(), actions[:, size:], carried)
            if i == last:
                actions[:, size - 1] = mean
            values = _evaluate(objective, actions)
            if i > 0 and keep:
                actions = torch.cat([actions, carried], dim=1)
                values = torch.cat([values, carried_values], dim=1)
            top, elites = _top(values, actions, self.elites)
            carried, carried_values = elites[:, :keep], top[:, :keep]
            better = top[:, 0] > best_value
            best_value = torch.where(better, top[:, 0], best_value)
            best = torch.where(better[:, None, None], elites[:, 0], best)
            mean, std = _refit(elites, mean, std, self.alpha)
        return best, replace(state, mean=_shift(mean, state.init), kept=_shift(carried, math.nan))
