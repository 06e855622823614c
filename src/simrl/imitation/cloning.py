"""Behaviour cloning's one reusable step: fit an SB3 policy's actor to (observation, action) arrays.

The policy is SAC's (``SACPolicy``: its actor, a tanh-squashed Gaussian) or PPO's (``ActorCriticPolicy``:
its policy network and diagonal Gaussian; the value network is left alone). Two losses, as pure
functions of the policy's outputs (:func:`bc_loss`):

- ``nll``: the demonstrated actions' negative log-likelihood under the policy's own distribution. SAC
  scores actions scaled to [-1, 1] and clipped to ``±SQUASH_CLIP``, inside the squashed Gaussian's
  support, so a saturated action has a finite log-likelihood; PPO scores the actions as the env takes them.
- ``mse``: the squared error of the deterministic action (SAC's ``tanh(mean)`` against the scaled
  action, PPO's mean against the action).

Observations are standardized with the training rows' mean and standard deviation while fitting; a
dimension that does not vary in them is only centred. :meth:`ObsScaler.fold` then writes the
standardization into the first layer of the actor, so the fitted policy acts on raw observations and
is a plain SB3 policy (SB3's ``load`` and RL training take it unchanged).

:class:`Cloner` is the fit, step by step (a run calls it in segments), with a held-out split of the rows,
early stopping on the held-out loss and its state for an exact resume; :func:`fit_actor` runs it whole.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from simrl.errors import CheckpointError, ConfigError

LOSSES = ("nll", "mse")
SQUASH_CLIP = 1.0 - 1e-3
"""SAC's NLL scores scaled actions clipped to this: atanh(0.999) = 3.8, where a clipped 1 would be infinite."""
MIN_STD = 1e-6
"""Below this the demonstrations do not vary along an observation dimension: it is centred, not scaled."""


@dataclass(frozen=True)
class CloneSettings:
    """How an actor is fitted to demonstrations."""

    loss: str = "mse"
    """``nll`` (negative log-likelihood under the policy's distribution) or ``mse`` (deterministic action)."""
    learning_rate: float = 1e-3
    """AdamW's step size (the original imitation project's 1e-3)."""
    batch_size: int = 256
    """Rows per gradient step, drawn uniformly with replacement from the training rows."""
    weight_decay: float = 0.0
    """AdamW's decoupled weight decay."""
    normalize_obs: bool = True
    """Standardize observations with the training rows' statistics (folded into the policy when saved)."""
    holdout: float = 0.1
    """Fraction of the rows held out for early stopping (0: none, and no early stopping)."""
    check_freq: int = 100
    """Gradient steps between held-out checks (also a run's unit: its checkpoints and evaluations fall on
    multiples of it)."""
    patience: int = 30
    """Held-out checks without a new lowest held-out loss before the fit stops at its best weights."""

    def check(self) -> None:
        """ConfigError for a value out of range."""
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got '{self.loss}'")
        if not (np.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ConfigError(f"learning_rate must be above 0, got {self.learning_rate}")
        if not (np.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"weight_decay must be at least 0, got {self.weight_decay}")
        if not 0.0 <= self.holdout < 1.0:
            raise ConfigError(f"holdout must be in [0, 1), got {self.holdout}")
        for name in ("batch_size", "check_freq", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")


# ----------------------------------------------------------------------------- the policy's side


def _is_sac(policy: Any) -> bool:
    return hasattr(policy, "actor") and hasattr(policy.actor, "get_action_dist_params")


def check_policy(policy: Any) -> None:
    """ConfigError unless ``policy`` is an SB3 SAC or PPO (actor-critic) policy on flat observations and
    continuous actions that BC can fit (and fold the observation statistics into)."""
    from gymnasium import spaces
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if not isinstance(policy.action_space, spaces.Box):
        raise ConfigError(f"behaviour cloning fits continuous (Box) actions, not {type(policy.action_space).__name__}")
    if not isinstance(policy.observation_space, spaces.Box) or len(policy.observation_space.shape) != 1:
        raise ConfigError("behaviour cloning needs flat (1-D Box) observations")
    extractor = policy.actor.features_extractor if _is_sac(policy) else policy.pi_features_extractor
    if not isinstance(extractor, FlattenExtractor):
        raise ConfigError(
            f"behaviour cloning needs the policy's flatten features extractor, not {type(extractor).__name__}"
        )
    if getattr(policy, "use_sde", False) or getattr(getattr(policy, "actor", None), "use_sde", False):
        raise ConfigError("behaviour cloning does not fit gSDE policies (use_sde)", "set use_sde: false")


def actor_parameters(policy: Any) -> list[torch.nn.Parameter]:
    """What the fit trains: SAC's actor; PPO's policy network, action head and log-std (not the value net)."""
    if _is_sac(policy):
        return list(policy.actor.parameters())
    params = [*policy.mlp_extractor.policy_net.parameters(), *policy.action_net.parameters()]
    log_std = getattr(policy, "log_std", None)
    return [*params, log_std] if isinstance(log_std, torch.nn.Parameter) else params


def first_layers(policy: Any) -> list[str]:
    """Names (in the policy's state dict) of the linear layers that read the features: the first hidden
    layer, or the output heads of a network without hidden layers."""
    if _is_sac(policy):
        if len(policy.actor.latent_pi):
            return ["actor.latent_pi.0"]
        return ["actor.mu", "actor.log_std"]
    return ["mlp_extractor.policy_net.0"] if len(policy.mlp_extractor.policy_net) else ["action_net"]


def loss_targets(policy: Any, actions: np.ndarray, loss: str) -> np.ndarray:
    """The demonstrated actions as the loss compares them: clipped to the action space's bounds; for SAC
    then scaled to [-1, 1] (and for its NLL clipped to ``±SQUASH_CLIP``)."""
    space = policy.action_space
    clipped = np.clip(np.asarray(actions, dtype=np.float64).reshape(len(actions), -1), space.low, space.high)
    if not _is_sac(policy):
        return clipped.astype(np.float32)
    scaled = policy.scale_action(clipped)
    if loss == "nll":
        scaled = np.clip(scaled, -SQUASH_CLIP, SQUASH_CLIP)
    return scaled.astype(np.float32)


def bc_loss(policy: Any, obs: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """The mean loss of ``policy`` on a batch (``obs`` as the network reads them, ``targets`` from
    :func:`loss_targets`): ``nll`` the negative log-likelihood under the policy's own distribution,
    ``mse`` the squared error of its deterministic action, averaged over rows and action dimensions."""
    if _is_sac(policy):
        actor = policy.actor
        mean, log_std, _ = actor.get_action_dist_params(obs)
        if loss == "mse":
            return torch.mean((torch.tanh(mean) - targets) ** 2)
        return -actor.action_dist.proba_distribution(mean, log_std).log_prob(targets).mean()
    dist = policy.get_distribution(obs)
    if loss == "mse":
        return torch.mean((dist.mode() - targets) ** 2)
    return -dist.log_prob(targets).mean()


# ----------------------------------------------------------------------------- observation statistics


@dataclass(frozen=True, eq=False)
class ObsScaler:
    """Standardization ``(obs - mean) / std`` of flat observations."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, obs: np.ndarray) -> ObsScaler:
        obs = np.asarray(obs, dtype=np.float64)
        std = obs.std(axis=0)
        return cls(mean=obs.mean(axis=0), std=np.where(std < MIN_STD, 1.0, std))

    @classmethod
    def identity(cls, dim: int) -> ObsScaler:
        return cls(mean=np.zeros(dim), std=np.ones(dim))

    def normalize_obs(self, obs: np.ndarray) -> np.ndarray:
        return ((np.asarray(obs, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def fold(self, state: dict[str, torch.Tensor], layers: list[str]) -> dict[str, torch.Tensor]:
        """A copy of the policy's ``state`` whose ``layers`` (``W x + b`` on standardized ``x``) read raw
        observations: ``W / std`` and ``b - (W / std) mean``, computed in float64."""
        out = dict(state)
        for name in layers:
            w, b = state[f"{name}.weight"], state[f"{name}.bias"]
            scale = torch.as_tensor(1.0 / self.std, dtype=torch.float64, device=w.device)
            shift = torch.as_tensor(self.mean, dtype=torch.float64, device=w.device)
            folded = w.double() * scale
            out[f"{name}.weight"] = folded.to(w.dtype)
            out[f"{name}.bias"] = (b.double() - folded @ shift).to(b.dtype)
        return out


# ----------------------------------------------------------------------------- the fit


@dataclass(frozen=True)
class CloneReport:
    steps: int
    """Gradient steps taken."""
    train_loss: float
    """The mean training loss over the interval before the last check (NaN before the first)."""
    holdout_loss: float | None
    """The lowest held-out loss (None without a holdout)."""
    stopped_early: bool


class Cloner:
    """Fits ``policy``'s actor to ``obs`` (raw) and ``actions`` (as the env takes them), step by step.

    The rows are split once, by ``split_rng``, into training rows and ``holdout`` held-out ones; batches are
    drawn from ``rng``. Every ``check_freq`` steps the held-out loss is measured: the lowest one's weights
    are kept, and after ``patience`` checks without a lower one the fit stops there (:attr:`stopped`).
    The policy's network reads standardized observations while this fits it (:attr:`scaler`).

    Raises:
        ConfigError: no rows, rows of mismatched lengths, a policy BC cannot fit.
    """

    def __init__(
        self,
        policy: Any,
        obs: np.ndarray,
        actions: np.ndarray,
        settings: CloneSettings,
        *,
        rng: np.random.Generator,
        split_rng: np.random.Generator,
    ) -> None:
        check_policy(policy)
        settings.check()
        n = len(obs)
        if n < 1 or len(actions) != n:
            raise ConfigError(f"cannot clone from {n} observations and {len(actions)} actions")
        self.policy, self.settings, self.rng = policy, settings, rng
        order = split_rng.permutation(n)
        n_hold = min(max(1, round(settings.holdout * n)), n - 1) if settings.holdout > 0 and n > 1 else 0
        hold, train = order[:n_hold], np.sort(order[n_hold:])
        obs = np.asarray(obs, dtype=np.float64).reshape(n, -1)
        self.scaler = ObsScaler.fit(obs[train]) if settings.normalize_obs else ObsScaler.identity(obs.shape[1])
        targets = loss_targets(policy, actions, settings.loss)

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, device=policy.device)

        self.obs, self.targets = tensor(self.scaler.normalize_obs(obs[train])), tensor(targets[train])
        self.hold_obs, self.hold_targets = tensor(self.scaler.normalize_obs(obs[hold])), tensor(targets[hold])
        self.params = actor_parameters(policy)
        self.optimizer = torch.optim.AdamW(self.params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
        self.steps = 0
        self.best_loss = float("inf")
        self.best_step = 0
        self.best_params: list[torch.Tensor] | None = None
        self.bad_checks = 0
        self.stopped = False
        self.losses: list[float] = []  # since the last check
        self.last_train_loss: float | None = None
        self.last_holdout_loss: float | None = None

    @property
    def n_train(self) -> int:
        return len(self.obs)

    @property
    def n_holdout(self) -> int:
        return len(self.hold_obs)

    def train(self, steps: int) -> None:
        """Take up to ``steps`` gradient steps (none once stopped), checking the held-out loss on schedule."""
        self.policy.set_training_mode(True)
        for _ in range(steps):
            if self.stopped:
                break
            idx = torch.as_tensor(self.rng.integers(0, self.n_train, self.settings.batch_size), device=self.obs.device)
            loss = bc_loss(self.policy, self.obs[idx], self.targets[idx], self.settings.loss)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self.steps += 1
            self.losses.append(loss.item())
            if self.steps % self.settings.check_freq == 0:
                self.check()
        self.policy.set_training_mode(False)

    @torch.no_grad()
    def holdout_loss(self) -> float | None:
        if not self.n_holdout:
            return None
        return float(bc_loss(self.policy, self.hold_obs, self.hold_targets, self.settings.loss))

    def check(self) -> float | None:
        """Measure the held-out loss, keep the best weights, stop after ``patience`` checks without one."""
        self.last_train_loss = float(np.mean(self.losses)) if self.losses else None
        self.losses.clear()
        loss = self.last_holdout_loss = self.holdout_loss()
        if loss is None:
            return None
        if loss < self.best_loss:
            self.best_loss, self.best_step, self.bad_checks = loss, self.steps, 0
            self.best_params = [p.detach().clone() for p in self.params]
        else:
            self.bad_checks += 1
            if self.bad_checks >= self.settings.patience:
                self.finish()
        return loss

    @torch.no_grad()
    def finish(self) -> None:
        """Stop: put back the weights of the lowest held-out loss (if any was measured)."""
        if self.best_params is not None:
            for p, best in zip(self.params, self.best_params, strict=True):
                p.copy_(best)
        self.stopped = True

    def folded_state(self) -> dict[str, torch.Tensor]:
        """The policy's state dict with the observation statistics folded in (it then acts on raw observations)."""
        state = {k: v.detach().clone() for k, v in self.policy.state_dict().items()}
        return self.scaler.fold(state, first_layers(self.policy)) if self.settings.normalize_obs else state

    def report(self) -> CloneReport:
        return CloneReport(
            steps=self.steps,
            train_loss=self.last_train_loss if self.last_train_loss is not None else float("nan"),
            holdout_loss=self.best_loss if self.best_params is not None else None,
            stopped_early=self.stopped,
        )

    # ------------------------------------------------------------------ state
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(tensors, plain), copies: the actor's weights, the optimizer, the best weights; the counters and
        the batch generator. The split is not saved: it is drawn again from the same seed."""
        tensors = {
            "params": [p.detach().clone() for p in self.params],
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "best_params": self.best_params if self.best_params is not None else [],
        }
        plain = {
            "rng": self.rng.bit_generator.state,
            "steps": self.steps,
            "best_loss": self.best_loss if self.best_params is not None else None,
            "best_step": self.best_step,
            "bad_checks": self.bad_checks,
            "stopped": self.stopped,
            "n_train": self.n_train,
            "n_holdout": self.n_holdout,
        }
        return tensors, plain

    @torch.no_grad()
    def load_state(self, tensors: dict[str, Any], plain: dict[str, Any], where: str) -> None:
        """Restore what :meth:`state` returned; CheckpointError (before changing anything) when it does not fit."""
        try:
            params, best = list(tensors["params"]), list(tensors["best_params"])
            shapes = [p.shape for p in self.params]
            if [tuple(t.shape) for t in params] != [tuple(s) for s in shapes] or (
                best and [tuple(t.shape) for t in best] != [tuple(s) for s in shapes]
            ):
                raise ValueError("weights of other shapes than the policy's")
            if (int(plain["n_train"]), int(plain["n_holdout"])) != (self.n_train, self.n_holdout):
                raise ValueError(
                    f"a split of {plain['n_train']} + {plain['n_holdout']} rows, not of these demonstrations"
                )
            rng = copy.deepcopy(self.rng)
            rng.bit_generator.state = plain["rng"]
            optimizer = torch.optim.AdamW(self.params, lr=self.settings.learning_rate)
            optimizer.load_state_dict(tensors["optimizer"])
            counters = (int(plain["steps"]), int(plain["best_step"]), int(plain["bad_checks"]), bool(plain["stopped"]))
            best_loss = float("inf") if plain["best_loss"] is None else float(plain["best_loss"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            raise CheckpointError(f"{where} does not fit this run ({e})", "use another checkpoint") from None
        for p, t in zip(self.params, params, strict=True):
            p.copy_(t.to(p.device))
        self.optimizer, self.rng = optimizer, rng
        self.steps, self.best_step, self.bad_checks, self.stopped = counters
        self.best_loss = best_loss
        self.best_params = [t.to(p.device) for p, t in zip(self.params, best, strict=True)] if best else None
        self.losses = []


def fit_actor(
    policy: Any,
    obs: np.ndarray,
    actions: np.ndarray,
    settings: CloneSettings,
    *,
    steps: int,
    rng: np.random.Generator,
) -> CloneReport:
    """Fit ``policy``'s actor to the rows for at most ``steps`` gradient steps (fewer when the held-out loss
    stops improving) and leave in it the weights of the lowest held-out loss, acting on raw observations.

    Returns what the fit did. Raises ConfigError for rows or a policy it cannot fit.
    """
    cloner = Cloner(policy, obs, actions, settings, rng=rng, split_rng=rng)
    cloner.train(steps)
    cloner.finish()
    policy.load_state_dict(cloner.folded_state())
    return cloner.report()
