"""A learned dynamics model: an ensemble predicting normalized state deltas (and rewards), and how it is fitted.

:class:`DynamicsModel` is what planners (random shooting, CEM, MPC) and MBPO see: ``fit`` on
transitions, ``step`` a batch of imagined states, ``state``/``load_state`` for checkpoints. The
fitting follows PETS (Chua et al. 2018) as mbrl-lib implements it: inputs ``(obs, action)`` and
targets ``next_obs - obs`` (+ reward) standardised on all data; each member trains on its own
bootstrap of the training split; early stopping on the held-out MSE (a member "improves" when it
drops by 1% relative on the best of this fit's epochs; a fit stops after ``patience`` epochs in which
none did); each member keeps its latest weights whose MSE is within 1% of its best; the ``elites``
members of lowest held-out MSE chosen. Adam persists between fits, as weights do: each fit continues the last one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from simrl.errors import CheckpointError, ConfigError
from simrl.mbrl.models.ensemble import ACTIVATIONS, Ensemble, bounded_logvar, gaussian_nll, mse
from simrl.mbrl.models.normalizer import Normalizer

STATE_FORMAT = 1
IMPROVEMENT = 0.01  # relative drop of a member's held-out MSE that counts as an improvement (mbrl-lib's)


MIN_EPOCH_STEPS = 20  # gradient steps an epoch takes at least, however few the transitions


@dataclass(frozen=True)
class ModelSettings:
    """The ensemble's shape and how it is fitted (call :meth:`check` before use; DynamicsModel does).

    Attributes:
        members: networks in the ensemble, each trained on its own bootstrap of the data.
        elites: the members of lowest held-out MSE that planners use (1..members).
        hidden: widths of the hidden layers.
        activation: ``silu``, ``relu`` or ``tanh``.
        probabilistic: predict a Gaussian (mean and bounded log-variance, NLL loss) rather than a mean (MSE loss).
        learn_reward: also predict the reward, as one more output column.
        lr: Adam's step size.
        weight_decay: L2 penalty on the layers' weights (not biases or log-variance bounds), as Adam's weight_decay.
        batch_size: transitions per member per gradient step.
        holdout: fraction of the transitions held out for early stopping and the choice of elites (0: none;
            training rows are scored instead).
        max_holdout: at most this many held-out transitions, so scoring an epoch stays cheap as data grows.
        patience: epochs without any member improving its held-out MSE by 1% before a fit stops.
        max_epochs: epochs per fit, at most: an epoch is a pass over the training split, or as many passes
            as make 20 gradient steps when the data is small.
        max_steps: gradient steps per fit, at most, so a fit's time stays bounded as the data grows
            (the last epoch may be cut short).
    """

    members: int = 5
    elites: int = 5
    hidden: tuple[int, ...] = (200, 200, 200)
    activation: str = "silu"
    probabilistic: bool = True
    learn_reward: bool = False
    lr: float = 1e-3
    weight_decay: float = 5e-5
    batch_size: int = 256
    holdout: float = 0.2
    max_holdout: int = 1000
    patience: int = 5
    max_epochs: int = 50
    max_steps: int = 5000

    def check(self) -> None:
        """Raise :class:`ConfigError` naming the first field out of range."""
        hint = "see simrl.mbrl.models.ModelSettings"
        if self.members < 1:
            raise ConfigError(f"members must be at least 1, got {self.members}", hint)
        if not 1 <= self.elites <= self.members:
            raise ConfigError(f"elites must be in 1..members ({self.members}), got {self.elites}", hint)
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f"hidden must be one or more positive widths, got {self.hidden}", hint)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation must be one of {', '.join(ACTIVATIONS)}, not '{self.activation}'", hint)
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}", hint)
        if not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay must be at least 0, got {self.weight_decay}", hint)
        if not 0 <= self.holdout < 1:
            raise ConfigError(f"holdout must be in [0, 1), got {self.holdout}", hint)
        for name in ("batch_size", "max_holdout", "patience", "max_epochs", "max_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}", hint)


@dataclass(frozen=True)
class FitReport:
    """What one :meth:`DynamicsModel.fit` did.

    Attributes:
        epochs: epochs run (the last one may have been cut short by ``max_steps``).
        steps: gradient steps taken.
        train_loss: mean training loss per member over the last epoch (NLL in nats per output, or MSE),
            in normalized units.
        holdout_mse: per member, the held-out MSE (normalized units) of the weights kept.
        elites: the members chosen, best first.
        seconds: wall time of the fit.
    """

    epochs: int
    steps: int
    train_loss: float
    holdout_mse: tuple[float, ...]
    elites: tuple[int, ...]
    seconds: float


class _Net(torch.nn.Module):
    """Everything of a model that ``state_dict`` carries: the ensemble, both normalizers, the elites."""

    elites: torch.Tensor

    def __init__(self, ensemble: Ensemble, in_dim: int, out_dim: int, elites: int) -> None:
        super().__init__()
        self.ensemble = ensemble
        self.inputs = Normalizer(in_dim)
        self.targets = Normalizer(out_dim)
        self.register_buffer("elites", torch.arange(elites))


class DynamicsModel:
    """An ensemble that predicts ``next_obs - obs`` (and the reward) from ``(obs, action)``.

    Args:
        obs_dim, act_dim: sizes of an observation and an action.
        settings: the ensemble's shape and fitting (checked here: :class:`ConfigError`).
        device: where the weights live; ``step`` takes tensors (and a generator) on that device.
        generator: the only source of the initial weights' randomness (a CPU generator).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        settings: ModelSettings,
        *,
        device: str | torch.device = "cpu",
        generator: torch.Generator,
    ) -> None:
        settings.check()
        self._settings = settings
        self._obs_dim, self._act_dim = obs_dim, act_dim
        self._out_dim = obs_dim + int(settings.learn_reward)
        ensemble = Ensemble(
            settings.members,
            obs_dim + act_dim,
            self._out_dim,
            tuple(int(h) for h in settings.hidden),
            activation=settings.activation,
            probabilistic=settings.probabilistic,
            generator=generator,
        )
        self._net = _Net(ensemble, obs_dim + act_dim, self._out_dim, settings.elites).to(device)
        self._device = torch.device(device)
        self._raw: tuple[tuple, tuple] | None = None  # step's folded layers: see _raw_layers
        decay = list(self._net.ensemble.weights)
        rest = [p for n, p in self._net.ensemble.named_parameters() if not n.startswith("weights.")]
        self._optimizer = torch.optim.Adam(
            [{"params": decay, "weight_decay": settings.weight_decay}, {"params": rest, "weight_decay": 0.0}],
            lr=settings.lr,
        )

    @property
    def settings(self) -> ModelSettings:
        return self._settings

    @property
    def obs_dim(self) -> int:
        return self._obs_dim

    @property
    def act_dim(self) -> int:
        return self._act_dim

    @property
    def elites(self) -> tuple[int, ...]:
        """The members planners should use, best held-out MSE first (before any fit: the first ``elites``)."""
        return tuple(int(i) for i in self._net.elites.tolist())

    # ------------------------------------------------------------------------------------------ predict

    @torch.no_grad()
    def step(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        members: torch.Tensor | None,
        *,
        sample: bool,
        generator: torch.Generator | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predict one step for ``obs [K, M, obs_dim]`` and ``actions [K, M, act_dim]`` (float32).

        Row group k uses member ``members[k]`` (a LongTensor ``[K]``; None: K == members, group k member k).
        With ``sample`` a probabilistic model draws the delta from ``N(mean, exp(logvar))`` with
        ``generator`` (required then); otherwise, or for a deterministic model, the delta is the mean.
        Returns ``(next_obs [K, M, obs_dim], reward [K, M] or None unless learn_reward)``.
        """
        layers, bounds = self._raw_layers(members, sample)
        out = self._net.ensemble.run(torch.cat((obs, actions), dim=-1), layers)
        delta = out[..., : self._out_dim]
        if bounds is not None:
            if generator is None:
                raise ValueError("sampling needs a generator (randomness comes only from the caller's)")
            noise = torch.randn(delta.shape, generator=generator, device=out.device, dtype=out.dtype)
            std = bounded_logvar(out[..., self._out_dim :], *bounds).mul_(0.5).exp_().mul_(self._net.targets.std)
            delta = delta.addcmul_(noise, std)
        next_obs = obs + delta[..., : self._obs_dim]
        reward = delta[..., self._obs_dim] if self._settings.learn_reward else None
        return next_obs, reward

    def _raw_layers(self, members: torch.Tensor | None, sample: bool) -> tuple[list, tuple | None]:
        """The ensemble's layers for ``members`` with both normalizers folded in: raw inputs in, raw deltas out.

        ``step`` runs hundreds of times per planned action; the normalizers' four small ops per call cost
        more than the folding, done once per plan (kept until the members, the weights or the statistics change).
        """
        net = self._net
        layers, bounds = net.ensemble._layers(members, mean_only=not sample)
        stats = (net.inputs.mean, net.inputs.std, net.targets.mean, net.targets.std)
        key = (layers, *(t._version for t in stats))
        cached = self._raw
        if cached is not None and cached[0][0] is layers and cached[0][1:] == key[1:] and not torch.is_grad_enabled():
            return cached[1]
        in_mean, in_std, out_mean, out_std = stats
        (w, b), *middle, (w_last, b_last) = layers
        w_first = w / in_std[:, None]  # [K, in, out]: x / std @ w
        b_first = b - in_mean[None, None] @ w_first  # - mean / std @ w
        cols = w_last.shape[-1]
        scale = torch.ones(cols, dtype=w.dtype, device=w.device)
        shift = torch.zeros(cols, dtype=w.dtype, device=w.device)
        scale[: self._out_dim], shift[: self._out_dim] = out_std, out_mean  # the mean columns, not the log-variance
        raw = ([(w_first, b_first), *middle, (w_last.mT.mul(scale[:, None]).mT, b_last * scale + shift)], bounds)
        if not torch.is_grad_enabled():
            self._raw = (key, raw)
        return raw

    @torch.no_grad()
    def predict(
        self, obs: torch.Tensor, actions: torch.Tensor, members: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The predicted Gaussian of ``next_obs - obs`` (and the reward, last) in raw units, as :meth:`step` takes rows.

        Returns ``(mean [K, M, out], variance [K, M, out] or None for a deterministic model)``.
        """
        net = self._net
        mean, logvar = net.ensemble(net.inputs.normalize(torch.cat((obs, actions), dim=-1)), members)
        var = None if logvar is None else logvar.exp_().mul_(net.targets.std.square())
        return net.targets.denormalize(mean), var

    # ------------------------------------------------------------------------------------------ fit

    def fit(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        next_obs: np.ndarray,
        rewards: np.ndarray | None,
        *,
        rng: np.random.Generator,
    ) -> FitReport:
        """Fit on all transitions so far (``[N, d]`` arrays; ``rewards [N]``, needed with ``learn_reward``).

        Refits the normalizers, splits off the holdout and draws each member's bootstrap with ``rng``,
        then trains from the current weights and optimizer state. Returns a :class:`FitReport`.
        """
        start = time.perf_counter()
        s = self._settings
        inputs, targets = self._arrays(obs, actions, next_obs, rewards)
        n = inputs.shape[0]
        self._net.inputs.fit(inputs)
        self._net.targets.fit(targets)
        inputs, targets = self._net.inputs.normalize(inputs), self._net.targets.normalize(targets)

        order = rng.permutation(n)
        n_hold = min(int(s.holdout * n), s.max_holdout, n - 1)
        hold, train = order[:n_hold], order[n_hold:]
        if n_hold == 0:  # nothing held out: score on (at most max_holdout) training rows
            hold = train[: s.max_holdout]
        hold_x, hold_y = inputs[hold], targets[hold]
        train_x, train_y = inputs[train], targets[train]
        boot = rng.integers(0, len(train), size=(s.members, len(train)))

        params = list(self._net.ensemble.parameters())  # every one is [E, ...]
        kept_params = [p.detach().clone() for p in params]
        kept = self._holdout_mse(hold_x, hold_y)  # the weights before this fit, until an epoch is trained
        # Patience counts from this fit's own best epoch, not from the weights before it: the first epochs on
        # new data, under refitted normalizers, raise the held-out MSE before lowering it (HalfCheetah, a
        # second fit on 2,000 transitions: 0.14 before, 0.34 after one epoch, back under 0.14 after nine);
        # compared with the weights before, five epochs looked stale and the fit kept the old model.
        best = torch.full_like(kept, torch.inf)
        epochs = steps = stale = 0
        train_loss = float("nan")
        while epochs < s.max_epochs and steps < s.max_steps and stale < s.patience:
            losses = []
            # An epoch is a pass over the data, or as many passes as make MIN_EPOCH_STEPS gradient steps: with
            # the few hundred transitions of a first fit a pass is one step, and 5 one-step epochs stopped the
            # fit untrained (pendulum, 200 transitions: held-out MSE 1.03, as before any step).
            while not losses or (len(losses) < MIN_EPOCH_STEPS and steps < s.max_steps):
                shuffled = np.take_along_axis(boot, np.argsort(rng.random(boot.shape), axis=1), axis=1)
                for lo in range(0, len(train), s.batch_size):
                    if steps == s.max_steps:
                        break
                    idx = torch.from_numpy(shuffled[:, lo : lo + s.batch_size]).to(self._device)
                    losses.append(self._update(train_x[idx], train_y[idx]))
                    steps += 1
            epochs += 1
            train_loss = float(torch.stack(losses).mean())
            score = self._holdout_mse(hold_x, hold_y)
            improved = score < best * (1 - IMPROVEMENT)
            stale = 0 if improved.any() else stale + 1
            best = torch.minimum(best, score)
            # Keep a member's latest weights while its MSE is within 1% of its best: once the mean has
            # plateaued its log-variance still learns, and the very best epoch (mbrl-lib's choice) would
            # undo that (N(0, 0.1^2) noise, one fit at lr 3e-3: variance 0.0120 from the best epoch, 0.0105 so).
            keep = score <= best * (1 + IMPROVEMENT)
            kept = torch.where(keep, score, kept)
            with torch.no_grad():
                for p, saved in zip(params, kept_params, strict=True):
                    saved[keep] = p[keep]
        with torch.no_grad():
            for p, saved in zip(params, kept_params, strict=True):
                p.copy_(saved)
        elites = torch.argsort(kept, stable=True)[: s.elites]
        self._net.elites.copy_(elites)
        return FitReport(
            epochs=epochs,
            steps=steps,
            train_loss=train_loss,
            holdout_mse=tuple(kept.tolist()),
            elites=tuple(elites.tolist()),
            seconds=time.perf_counter() - start,
        )

    def _arrays(self, obs, actions, next_obs, rewards) -> tuple[torch.Tensor, torch.Tensor]:
        obs, actions, next_obs = (np.asarray(a, dtype=np.float32) for a in (obs, actions, next_obs))
        n = obs.shape[0]
        if obs.shape != (n, self._obs_dim) or next_obs.shape != obs.shape or actions.shape != (n, self._act_dim):
            raise ValueError(
                f"fit wants obs and next_obs [N, {self._obs_dim}] and actions [N, {self._act_dim}], "
                f"got {obs.shape}, {next_obs.shape} and {actions.shape}"
            )
        if n < 2:
            raise ValueError(f"fit needs at least 2 transitions, got {n}")
        columns = [next_obs - obs]
        if self._settings.learn_reward:
            if rewards is None or np.shape(rewards) != (n,):
                raise ValueError(
                    f"learn_reward needs rewards [{n}], got {None if rewards is None else np.shape(rewards)}"
                )
            columns.append(np.asarray(rewards, dtype=np.float32)[:, None])
        inputs = torch.from_numpy(np.concatenate((obs, actions), axis=1)).to(self._device)
        targets = torch.from_numpy(np.concatenate(columns, axis=1)).to(self._device)
        return inputs, targets

    def _update(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One Adam step on batches ``[E, B, d]``; returns the members' mean loss (detached)."""
        ensemble = self._net.ensemble
        mean, logvar = ensemble(x)
        if logvar is None:
            per_member = mse(mean, y)
            loss = per_member.sum()
        else:
            per_member = gaussian_nll(mean, logvar, y)
            # PETS' scale: twice the NLL (its loss drops the one half and log 2 pi), plus the bound penalty
            loss = 2 * per_member.sum() + ensemble.logvar_bound_penalty()
        self._optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer.step()
        return per_member.detach().mean()

    @torch.no_grad()
    def _holdout_mse(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        e = self._settings.members
        mean, _ = self._net.ensemble(x.expand(e, *x.shape), mean_only=True)
        return mse(mean, y.expand(e, *y.shape))

    # ------------------------------------------------------------------------------------------ state

    def state(self) -> dict:
        """Everything needed to continue training exactly, as plain tensors, numbers and strings.

        ``torch.load(weights_only=True)`` reads it back; :meth:`load_state` restores it.
        """
        return {
            "format": STATE_FORMAT,
            "obs_dim": self._obs_dim,
            "act_dim": self._act_dim,
            "module": {k: v.detach().clone() for k, v in self._net.state_dict().items()},
            "optimizer": self._optimizer.state_dict(),
        }

    def load_state(self, state: dict, *, optimizer: bool = True) -> None:
        """Restore a :meth:`state`; :class:`CheckpointError` (nothing changed) when it does not fit this model.

        ``optimizer=False`` reads a state without the optimizer's (a saved policy: it predicts, it does
        not train) and leaves the optimizer as it is. The optimizer's step size and weight decay stay
        this model's settings.
        """
        if not optimizer and isinstance(state, dict):
            state = {**state, "optimizer": self._optimizer.state_dict()}
        self._check_state(state)
        self._net.load_state_dict(state["module"])
        if not optimizer:
            return
        self._optimizer.load_state_dict(state["optimizer"])
        for group, decay in zip(self._optimizer.param_groups, (self._settings.weight_decay, 0.0), strict=True):
            group["lr"], group["weight_decay"] = self._settings.lr, decay

    def _check_state(self, state: dict) -> None:
        def fail(what: str) -> CheckpointError:
            return CheckpointError(f"dynamics model state does not fit this model: {what}")

        if not isinstance(state, dict) or not {"format", "obs_dim", "act_dim", "module", "optimizer"} <= state.keys():
            raise fail("not a dynamics model state (keys missing)")
        if state["format"] != STATE_FORMAT:
            raise fail(f"format {state['format']}, expected {STATE_FORMAT}")
        if (state["obs_dim"], state["act_dim"]) != (self._obs_dim, self._act_dim):
            raise fail(
                f"obs_dim, act_dim {state['obs_dim']}, {state['act_dim']}, expected {self._obs_dim}, {self._act_dim}"
            )
        ours, theirs = self._net.state_dict(), state["module"]
        if not isinstance(theirs, dict) or set(theirs) != set(ours):
            raise fail(f"module keys {sorted(theirs) if isinstance(theirs, dict) else '?'}, expected {sorted(ours)}")
        for k, v in ours.items():
            if not isinstance(theirs[k], torch.Tensor) or theirs[k].shape != v.shape:
                got = tuple(theirs[k].shape) if isinstance(theirs[k], torch.Tensor) else type(theirs[k]).__name__
                raise fail(f"{k} has shape {got}, expected {tuple(v.shape)}")
        opt = state["optimizer"]
        groups = opt.get("param_groups") if isinstance(opt, dict) else None
        ours_groups = self._optimizer.state_dict()["param_groups"]
        if not isinstance(groups, list) or [len(g.get("params", ())) for g in groups] != [
            len(g["params"]) for g in ours_groups
        ]:
            raise fail("the optimizer's parameter groups differ")
        shapes = {i: p.shape for i, p in enumerate(q for g in self._optimizer.param_groups for q in g["params"])}
        for i, slot in opt.get("state", {}).items():
            for name in ("exp_avg", "exp_avg_sq"):
                if i not in shapes or not isinstance(slot.get(name), torch.Tensor) or slot[name].shape != shapes[i]:
                    raise fail(f"the optimizer's {name} of parameter {i} has the wrong shape")
