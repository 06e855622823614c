"""``simrl train seeded-sac``: SAC started from imitation, with the demonstrations in every batch.

The original imitation project's "imitation-seeded SAC" (fit SAC's actor to the imitator and its critic
to the returns-to-go of imitation trajectories, then let RL explore, recalibrating to the imitator with a
probability that decays), joined with RLPD's use of demonstrations (Ball et al. 2023: half of every batch
from them, LayerNorm in the critics). Once, before the run's first env step:

1. the actor is fitted to the demonstrations by behaviour cloning (:func:`~simrl.imitation.cloning.fit_actor`,
   ``clone_steps`` gradient steps with the ``clone:`` block's settings; it then acts on raw observations)
   and a frozen copy of it kept as the imitator;
2. with ``critic_steps`` > 0, the critics are regressed onto the demonstrations' discounted Monte-Carlo
   returns-to-go (SAC's ``gamma``; an episode that was truncated, not terminated, continues its last
   reward forever, ``r_T / (1 - gamma)``, since the demonstrations do not say what came after); the
   target critics are copied from the critics either way.

Then SB3's SAC learns as it always does, but for four things:

- ``demo_ratio`` of every batch comes from the demonstrations (MBPO's ``MixedReplayBuffer`` with the
  demonstrations as its second buffer; RLPD's symmetric sampling is 0.5);
- ``recalibrate`` > 0: every actor update also pulls the actor's deterministic action towards the imitator's
  on a batch of the run's own states, ``w * mean|Q| * MSE`` added to SAC's actor loss (TD3+BC's scale-free
  form, Fujimoto and Gu 2021), its weight ``w`` halving every ``recalibrate_half_life`` env steps. The
  original drew separate recalibration steps with a decaying probability; on the pendulum that did not
  hold the clone (Adam's steps on SAC's loss, while the critics are young, move a good clone off its
  balance within 250 env steps whatever steps come between), so the pull is in every update instead;
- ``actor_delay``: the actor is frozen for its first env steps while the critics learn;
- ``layer_norm``: each hidden activation of the critics (and their targets) reads a LayerNorm of its input
  first. It has no learned scale and shift, so the networks' weights are exactly SAC's and the policy
  file is a plain SAC zip (RLPD's LayerNorm has them; we keep the file format).

The preset starts SAC learning at once (``learning_starts: 0``: its first actions are the clone's, not
uniformly random ones) with an entropy coefficient of 0.01 (from 1.0, SAC's start, the first updates
spread the clone's actions and the pendulum's returns dipped to -600 before recovering). Regressing the
critics on returns-to-go is off in the preset: on the pendulum every variant measured with it ended
worse (critics fitted to the expert's actions alone, and to returns without SAC's entropy terms, steer the
actor wrong). The policy file is SAC's ``model.zip`` of kind ``sb3`` (plain ``SAC.load`` reads it).
Composition, as MBPO: the SAC part is the sb3 trainer's own code.

How resume is exact: the seeding runs once, from generators seeded by the run's seed, before the first
checkpoint can be written; a checkpoint holds SAC's files, the imitator (``seeded.pt``) and the
generators of demonstration batches and of the pull's batches (its plain state). The demonstrations
themselves are the run folder's demos.npz, read again.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simrl.errors import CheckpointError, ConfigError
from simrl.imitation.cloning import CloneSettings, fit_actor
from simrl.rl.trainer import ComposedSB3
from simrl.types import StepCallback
from simrl.utils.seeding import derive_seed, generator_state, set_generator_state

STATE = "seeded.pt"

# SAC keys the seeding needs as they are: a normalized observation would undo the clone's folded statistics.
OWNS_SAC = {"normalize": "the clone folds the demonstrations' statistics into the actor"}


@dataclass(frozen=True)
class SeededSACSettings:
    """SAC seeded from demonstrations. Defaults: RLPD's share of demonstrations, the original's seeding."""

    demo_ratio: float = 0.5
    """Fraction of every SAC batch drawn from the demonstrations (RLPD: 0.5; 0: none)."""
    clone_steps: int = 2000
    """Behaviour-cloning steps fitting the actor before the first env step (0: SAC's own initial actor)."""
    clone: CloneSettings = field(default_factory=CloneSettings)
    """How the actor is cloned (``clone:`` block: bc.yaml's keys but ``as``)."""
    critic_steps: int = 0
    """Regression steps of the critics onto the demonstrations' returns-to-go (0: SAC's own initial critics)."""
    critic_learning_rate: float = 1e-3
    """Adam's step size for that regression (its own optimizer; SAC's starts fresh)."""
    critic_batch_size: int = 256
    """Rows per regression step."""
    actor_delay: int = 0
    """Env steps from the start during which only the critics (and the entropy coefficient) learn: the actor
    stays the clone while the critics learn its values from its own transitions."""
    layer_norm: bool = False
    """A LayerNorm (without learned scale and shift) before every hidden activation of the critics."""
    recalibrate: float = 0.4
    """Weight, at env step 0, of the pull towards the imitator in every actor update (TD3+BC's 1/alpha: 0.4)."""
    recalibrate_half_life: int = 5000
    """Env steps over which that weight halves."""
    sac: dict[str, Any] = field(default_factory=dict)
    """SB3 SAC's hyper-parameters (``sac:`` block): simrl's SAC preset for the env under this file's."""

    def check(self) -> None:
        """ConfigError for a value out of range (the clone's and the sac: block's included)."""
        from simrl.rl import algos

        if not (math.isfinite(self.demo_ratio) and 0.0 <= self.demo_ratio <= 1.0):
            raise ConfigError(f"demo_ratio must be in [0, 1], got {self.demo_ratio}")
        if not (math.isfinite(self.recalibrate) and self.recalibrate >= 0.0):
            raise ConfigError(f"recalibrate must be at least 0, got {self.recalibrate}")
        if not (math.isfinite(self.critic_learning_rate) and self.critic_learning_rate > 0):
            raise ConfigError(f"critic_learning_rate must be above 0, got {self.critic_learning_rate}")
        for name in ("clone_steps", "critic_steps", "actor_delay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be at least 0, got {getattr(self, name)}")
        for name in ("critic_batch_size", "recalibrate_half_life"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.recalibrate > 0 and self.clone_steps == 0:
            raise ConfigError("recalibrate needs an imitator to recalibrate to", "set clone_steps above 0")
        self.clone.check()
        if not isinstance(self.sac, dict):
            raise ConfigError(f"sac must be a mapping of SAC hyper-parameters, got {self.sac!r}")
        for key, why in OWNS_SAC.items():
            if key in self.sac:
                raise ConfigError(f"sac.{key} is not for seeded-sac", why)
        algos.check_keys("sac", self.sac, "the sac: block")
        algos.check_ranges(algos.check_types("sac", self.sac))

    def recalibration_weight(self, step: int) -> float:
        return self.recalibrate * 0.5 ** (step / self.recalibrate_half_life)


def settings_of(hyperparams: dict[str, Any]) -> SeededSACSettings:
    """The checked settings (ConfigError naming the bad key or value, with a "did you mean")."""
    from simrl.mbrl.settings import from_mapping

    settings = from_mapping(SeededSACSettings, hyperparams)
    settings.check()
    return settings


def returns_to_go(rewards: np.ndarray, lengths: np.ndarray, truncated: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted returns-to-go of every row, episode by episode (rows grouped as ``lengths`` says); an
    episode whose last row is ``truncated`` continues its last reward forever after it."""
    out = np.empty(len(rewards), dtype=np.float64)
    start = 0
    for length in lengths:
        end = start + int(length)
        g = rewards[end - 1] / (1.0 - gamma) if truncated[end - 1] and gamma < 1 else rewards[end - 1]
        out[end - 1] = g
        for i in range(end - 2, start - 1, -1):
            g = rewards[i] + gamma * g
            out[i] = g
        start = end
    return out


class _NormThenAct(torch.nn.Module):
    """A LayerNorm without learned scale and shift, then an activation (no parameters: the state dict of the
    network it sits in does not change)."""

    def __init__(self, act: torch.nn.Module) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(torch.nn.functional.layer_norm(x, x.shape[-1:]))


def add_layer_norm(critic: Any) -> None:
    """Put a LayerNorm before every hidden activation of SB3's ``ContinuousCritic`` (in place)."""
    for q_net in critic.q_networks:
        for i, module in enumerate(q_net):
            if i and isinstance(q_net[i - 1], torch.nn.Linear) and not isinstance(module, torch.nn.Linear):
                q_net[i] = _NormThenAct(module)


class SeededSACTrainer(ComposedSB3):
    """SAC (an SB3 trainer on one or more envs) seeded from ``demos`` before its first step.

    Args:
        sac: the SAC trainer (``simrl.rl.trainer.build_trainer`` with ``settings.sac``).
        demos: the demonstrations (``simrl.data.demos.Demos``), already checked against the env.
        settings: checked settings.
        seed: the run's seed; the seeding's batches, the demonstrations' share and recalibration derive from it.
    """

    kind = "imitation"

    def __init__(self, sac: Any, demos: Any, *, settings: SeededSACSettings, seed: int) -> None:
        from simrl.mbrl.model_buffer import MixedReplayBuffer, ModelBuffer

        super().__init__(sac)
        self.demos, self.settings, self.seed = demos, settings, seed
        model = sac.model
        policy = model.policy
        if settings.layer_norm:
            add_layer_norm(policy.critic)
            add_layer_norm(policy.critic_target)
        n = len(demos)
        self.obs = np.asarray(demos.observations, dtype=np.float32).reshape(n, -1)
        space = model.action_space
        clipped = np.clip(np.asarray(demos.actions, dtype=np.float64).reshape(n, -1), space.low, space.high)
        self.scaled_actions = policy.scale_action(clipped).astype(np.float32)
        self.demo_buffer = ModelBuffer(n, self.obs.shape[1], self.scaled_actions.shape[1])
        self.demo_buffer.add(
            self.obs,
            self.scaled_actions,
            np.asarray(demos.next_observations, dtype=np.float32).reshape(n, -1),
            np.asarray(demos.rewards, dtype=np.float32),
            np.asarray(demos.terminated, dtype=np.float32),
        )
        self.real = model.replay_buffer
        self.mixed = None
        if settings.demo_ratio > 0:
            rng = np.random.default_rng(derive_seed(seed, 4))
            self.mixed = MixedReplayBuffer(self.real, self.demo_buffer, 1.0 - settings.demo_ratio, rng)
            model.replay_buffer = self.mixed
        self.recal_rng = np.random.default_rng(derive_seed(seed, 5))
        self.imitator = copy.deepcopy(policy.actor)
        self.imitator.set_training_mode(False)
        if settings.recalibrate > 0:  # the pull is added to SAC's own actor gradient, just before its step
            policy.actor.optimizer.register_step_pre_hook(lambda *_: self._recalibrate())
        self.seeded = False

    def learn(self, until: int, callback: StepCallback) -> None:
        if not self.seeded:
            self.seed_from_demos()
        self._freeze_actor(self.num_timesteps < self.settings.actor_delay)
        super().learn(until, callback)

    def _freeze_actor(self, frozen: bool) -> None:
        for p in self.sac.model.policy.actor.parameters():
            p.requires_grad_(not frozen)

    # ------------------------------------------------------------------ seeding
    def seed_from_demos(self) -> None:
        """Clone the actor, regress the critics onto returns-to-go, copy the targets (once, before step 0)."""
        s, model = self.settings, self.sac.model
        policy, log = model.policy, model.logger
        rng = np.random.default_rng(derive_seed(self.seed, 6))
        if s.clone_steps:
            report = fit_actor(
                policy, self.demos.observations, self.demos.expert_actions, s.clone, steps=s.clone_steps, rng=rng
            )
            log.record("seed/clone_steps", report.steps)
            if report.holdout_loss is not None:
                log.record("seed/clone_holdout_loss", report.holdout_loss)
            self.imitator.load_state_dict(policy.actor.state_dict())
        if s.critic_steps:
            log.record("seed/critic_loss", self._fit_critics(rng))
        policy.critic_target.load_state_dict(policy.critic.state_dict())
        self.seeded = True

    def _fit_critics(self, rng: np.random.Generator) -> float:
        """Regress every critic onto the demonstrations' returns-to-go; the last 100 steps' mean loss."""
        s, model = self.settings, self.sac.model
        d = self.demos
        g = returns_to_go(d.rewards, d.episode_lengths, d.truncated, float(model.gamma))
        device = model.device
        obs, actions = torch.as_tensor(self.obs, device=device), torch.as_tensor(self.scaled_actions, device=device)
        target = torch.as_tensor(g, dtype=torch.float32, device=device)[:, None]
        critic = model.policy.critic
        optimizer = torch.optim.Adam(critic.parameters(), lr=s.critic_learning_rate)
        losses: list[float] = []
        for _ in range(s.critic_steps):
            idx = torch.as_tensor(rng.integers(0, len(obs), s.critic_batch_size), device=device)
            qs = critic(obs[idx], actions[idx])
            loss = sum(torch.nn.functional.mse_loss(q, target[idx]) for q in qs) / len(qs)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        return float(np.mean(losses[-100:]))

    def on_env_step(self, step: int) -> None:
        """After env step ``step``, before SAC's update: the actor learns from ``actor_delay`` on."""
        if step == self.settings.actor_delay:
            self._freeze_actor(False)

    def _recalibrate(self) -> None:
        """Add the gradient of ``w * mean|Q| * MSE(actor, imitator)`` to the actor's (SAC's) gradient: TD3+BC's
        scale-free pull (Fujimoto and Gu 2021), on a batch of the run's own states, its weight ``w`` decaying."""
        step = self.num_timesteps
        weight = self.settings.recalibration_weight(step)
        model = self.sac.model
        actor, critic, real = model.policy.actor, model.policy.critic, self.real
        params = [p for p in actor.parameters() if p.requires_grad]
        if weight < 1e-6 or not params or not real.size():
            return
        batch = model.batch_size
        rows, envs = self.recal_rng.integers(0, real.size(), batch), self.recal_rng.integers(0, real.n_envs, batch)
        obs = torch.as_tensor(real.observations[rows, envs].reshape(batch, -1), device=model.device)
        action = actor(obs, deterministic=True)
        with torch.no_grad():
            target = self.imitator(obs, deterministic=True)
            scale = torch.cat(critic(obs, action), dim=1).min(dim=1).values.abs().mean()
        mse = torch.mean((action - target) ** 2)
        grads = torch.autograd.grad(weight * scale * mse, params, allow_unused=True)
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                p.grad = g if p.grad is None else p.grad + g
        log = model.logger
        log.record("seed/recalibration_weight", weight)
        log.record("seed/recalibration_mse", float(mse.detach()))

    # ------------------------------------------------------------------ state
    def state_files(self) -> tuple[str, ...]:
        return (*self.sac.state_files(), STATE)

    def save(self, folder: Path) -> dict[str, Any]:
        from simrl.mbrl.policy_file import save_blob

        sac_state = self.sac.save(folder)
        save_blob(
            folder / STATE,
            {"imitator": self.imitator.state_dict()},
        )
        return {
            "sac": sac_state,
            "seeded": self.seeded,
            "recal_rng": generator_state(self.recal_rng),
            "demo_rng": generator_state(self.mixed.rng) if self.mixed is not None else None,
        }

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        from simrl.mbrl.policy_file import load_blob

        blob = load_blob(folder / STATE, ("imitator",), "seeded SAC state")
        try:
            recal_rng, demo_rng = np.random.default_rng(), np.random.default_rng()
            set_generator_state(recal_rng, state["recal_rng"])
            if self.mixed is not None:
                set_generator_state(demo_rng, state["demo_rng"])
            seeded, sac_state = bool(state["seeded"]), state["sac"]
            imitator = copy.deepcopy(self.imitator)
            imitator.load_state_dict(blob["imitator"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise CheckpointError(
                f"checkpoint '{folder}' does not fit this run ({e})", "use another checkpoint"
            ) from None
        self.sac.restore(folder, sac_state)
        self.imitator, self.recal_rng, self.seeded = imitator, recal_rng, seeded
        if self.mixed is not None:
            self.mixed.rng = demo_rng
