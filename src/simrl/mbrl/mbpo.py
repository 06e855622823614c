"""``simrl train mbpo``: Model-Based Policy Optimization (Janner et al. 2019, "When to trust your model").

SB3's SAC collects and learns as usual (``updates_per_step`` gradient steps per env step, random
actions for the first ``init_steps``), but its replay buffer is a :class:`MixedReplayBuffer`: each batch
is ``real_ratio`` real transitions and the rest imagined ones. Every ``model_train_freq`` steps from
``init_steps`` on (an SB3 callback, after the env step and before SAC's update), the dynamics ensemble
is refitted on every real transition and ``rollout_batch`` real states, drawn uniformly, are rolled
out ``rollout_length`` steps under the current SAC policy (sampled actions): each row steps a random
elite member, sampled from its Gaussian; the reward is the task's (``simrl.envs.fns``) or, with
``model.learn_reward``, the model's; rows the task's termination function ends stop there. An env
without task functions needs ``model.learn_reward`` and is assumed never to terminate. The model
buffer keeps the newest ``model_retain`` rounds at the longest rollout length (a ring buffer).

Composition, not a subclass of ``SB3Trainer``: MBPO *is* an SB3 SAC run plus a model, so the SAC part
(segment reseeding, model.zip, replay_buffer.npz, the action space's generator, logging) is the sb3
trainer's own code, and MBPO adds its files beside them. The policy file is SAC's ``model.zip`` whose
simrl.json says kind ``sb3``, algo ``sac`` (and ``learner: mbpo``): plain ``SAC.load`` reads it, and
so does every simrl reader of an SB3 model.

How resume is exact: the SAC part as the sb3 trainer's; the model buffer (``model_buffer.npz``), the
dynamics model with its optimiser and the rollout's torch generator (``dynamics.pt``), and the numpy
generators of fits and start states and of model-buffer batches (in the plain state). Fits and
rollouts happen at fixed step counts, so nothing else needs saving. The dynamics model lives on the CPU;
SAC on the run's device.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simrl.envs.fns import TaskFns
from simrl.errors import CheckpointError
from simrl.mbrl import policy_file
from simrl.mbrl.model_buffer import FILE as MODEL_BUFFER
from simrl.mbrl.model_buffer import MixedReplayBuffer, ModelBuffer
from simrl.mbrl.models.dynamics import DynamicsModel
from simrl.mbrl.mpc_trainer import spaces_of
from simrl.mbrl.settings import MBPOSettings
from simrl.rl.trainer import ComposedSB3, SB3Trainer
from simrl.utils.seeding import derive_seed, generator_state, set_generator_state

DYNAMICS = "dynamics.pt"


class MBPOTrainer(ComposedSB3):
    """The ``mbpo`` learner: an SB3 SAC trainer (on one env) and a dynamics model feeding its batches.

    Args:
        sac: the SAC trainer (built by ``simrl.rl.trainer.build_trainer`` with
            ``settings.sac_hyperparams()``); its replay buffer is wrapped here.
        settings: checked MBPO settings.
        fns: the task's reward and termination functions (None: a learned reward, no terminations).
        seed: the run's seed; the model's weights and MBPO's generators derive from it.
    """

    kind = "mbrl"

    def __init__(self, sac: SB3Trainer, *, settings: MBPOSettings, fns: TaskFns | None, seed: int) -> None:
        super().__init__(sac)
        self.settings = settings
        self.fns = fns
        self.obs_dim, self.act_dim, low, high = spaces_of(sac.venv)
        self.low, self.high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
        self.dynamics = DynamicsModel(
            self.obs_dim, self.act_dim, settings.model, generator=torch.Generator().manual_seed(derive_seed(seed, 1))
        )
        self.rng = np.random.default_rng(derive_seed(seed, 2))  # holdout splits, bootstraps, start states
        self.rollout_generator = torch.Generator().manual_seed(derive_seed(seed, 3))  # members, model noise
        capacity = settings.model_retain * settings.rollout_batch * max(settings.rollout_schedule[2:])
        self.imagined = ModelBuffer(capacity, self.obs_dim, self.act_dim)
        self.real = sac.model.replay_buffer
        sac.model.replay_buffer = MixedReplayBuffer(
            self.real, self.imagined, settings.real_ratio, np.random.default_rng(derive_seed(seed, 4))
        )
        self.fits = 0

    def on_env_step(self, step: int) -> None:
        """After env step ``step``, before SAC's update: refit and roll out when it is time."""
        s = self.settings
        if step < s.init_steps or (step - s.init_steps) % s.model_train_freq:
            return
        self.fit()
        self.rollout(s.rollout_length(step))

    # ------------------------------------------------------------------ the model
    def _env_actions(self, scaled: torch.Tensor | np.ndarray) -> torch.Tensor:
        """SAC's actions in [-1, 1] (what its buffer holds) as the env's."""
        scaled = torch.as_tensor(scaled, dtype=torch.float32)
        return self.low + (scaled + 1.0) * 0.5 * (self.high - self.low)

    def fit(self) -> None:
        """Refit the dynamics model on every real transition."""
        n = self.real.size()
        obs, next_obs = self.real.observations[:n, 0], self.real.next_observations[:n, 0]
        actions = self._env_actions(self.real.actions[:n, 0]).numpy()
        report = self.dynamics.fit(obs, actions, next_obs, self.real.rewards[:n, 0], rng=self.rng)
        self.fits += 1
        log = self.sac.model.logger
        log.record("mbpo/model_fits", self.fits)
        log.record("mbpo/model_epochs", report.epochs)
        log.record("mbpo/model_holdout_mse", float(np.mean(report.holdout_mse)))
        log.record("time/model_fit_s", float(report.seconds))

    @torch.no_grad()
    def rollout(self, length: int) -> None:
        """``rollout_batch`` real states rolled out ``length`` steps under SAC's policy into the model buffer."""
        start = time.perf_counter()
        sac = self.sac.model
        sac.policy.set_training_mode(False)
        idx = self.rng.integers(0, self.real.size(), size=self.settings.rollout_batch)
        obs = torch.as_tensor(self.real.observations[idx, 0], dtype=torch.float32)
        elites = torch.as_tensor(self.dynamics.elites)
        added = 0
        for _ in range(length):
            scaled = sac.policy._predict(obs.to(sac.device), deterministic=False).float().cpu()
            actions = self._env_actions(scaled)
            next_obs, reward = self._step(obs, actions, elites)
            if reward is None:
                assert self.fns is not None  # settings without a learned reward have the task's
                reward = self.fns.reward(obs, actions, next_obs)
            done = (
                self.fns.terminated(obs, actions, next_obs)
                if self.fns is not None
                else torch.zeros(len(obs), dtype=torch.bool)
            )
            self.imagined.add(
                obs.numpy(), scaled.numpy(), next_obs.numpy(), reward.float().numpy(), done.float().numpy()
            )
            added += len(obs)
            obs = next_obs[~done]
            if not len(obs):
                break
        log = sac.logger
        log.record("mbpo/rollout_length", length)
        log.record("mbpo/imagined_added", added)
        log.record("mbpo/model_buffer", len(self.imagined))
        log.record("time/rollout_s", time.perf_counter() - start)

    def _step(self, obs: torch.Tensor, actions: torch.Tensor, elites: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """One model step, each row through a random elite member (sampled from its Gaussian)."""
        pick = torch.randint(len(elites), (len(obs),), generator=self.rollout_generator)
        next_obs = torch.empty_like(obs)
        reward = torch.empty(len(obs)) if self.settings.model.learn_reward else None
        for i, member in enumerate(elites.tolist()):
            rows = (pick == i).nonzero().squeeze(1)
            if not len(rows):
                continue
            nxt, rew = self.dynamics.step(
                obs[rows][None],
                actions[rows][None],
                torch.tensor([member]),
                sample=True,
                generator=self.rollout_generator,
            )
            next_obs[rows] = nxt[0]
            if reward is not None and rew is not None:
                reward[rows] = rew[0]
        return next_obs, reward

    # ------------------------------------------------------------------ state
    def state_files(self) -> tuple[str, ...]:
        return (*self.sac.state_files(), MODEL_BUFFER, DYNAMICS)

    def save(self, folder: Path) -> dict[str, Any]:
        sac_state = self.sac.save(folder)
        self.imagined.save(folder / MODEL_BUFFER)
        policy_file.save_blob(
            folder / DYNAMICS, {"model": self.dynamics.state(), "rollout_generator": self.rollout_generator.get_state()}
        )
        mixed = self.sac.model.replay_buffer
        return {
            "sac": sac_state,
            "rng": generator_state(self.rng),
            "sample_rng": generator_state(mixed.rng),
            "fits": self.fits,
        }

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        imagined = ModelBuffer(self.imagined.capacity, self.obs_dim, self.act_dim)
        imagined.load(folder / MODEL_BUFFER)
        blob = policy_file.load_blob(folder / DYNAMICS, ("model", "rollout_generator"), "dynamics model file")
        try:
            rng, sample_rng = np.random.default_rng(), np.random.default_rng()
            set_generator_state(rng, state["rng"])
            set_generator_state(sample_rng, state["sample_rng"])
            fits, sac_state = int(state["fits"]), state["sac"]
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint '{folder}' has a corrupt state.json ({e})") from None
        self.sac.restore(folder, sac_state)
        self.dynamics.load_state(blob["model"])
        self.rollout_generator.set_state(blob["rollout_generator"])
        mixed = self.sac.model.replay_buffer
        mixed.imagined, mixed.rng = imagined, sample_rng
        self.imagined, self.rng, self.fits = imagined, rng, fits
