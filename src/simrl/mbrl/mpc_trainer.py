"""``simrl train mpc``: collect, fit, plan (PETS with a probabilistic ensemble and trajectory sampling).

The loop, in chunks of ``steps_per_fit`` steps per env (the run's checkpoint unit): collect a chunk
(uniformly random actions until ``init_steps``, then the MPC agent), add it to the dataset, refit the
dynamics model on everything collected (from ``init_steps`` on), and call the run back: the policy has
just been updated there, so the run evaluates and checkpoints on fresh models.

How resume is exact: the state is the dataset, the model with its optimiser, the numpy generator
(holdout splits, bootstraps, random actions) and the planner's torch generator; the run folder saves
the global random states. At every segment start, in an uninterrupted run and a resumed one alike,
the env is reseeded from (seed, step) and reset and the planner starts a fresh plan, as the SB3
trainer does, so nothing of the env or of the plan needs saving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from simrl.data import rollout
from simrl.envs.fns import TaskFns
from simrl.errors import CheckpointError
from simrl.mbrl import policy_file
from simrl.mbrl.dataset import FILE as DATASET
from simrl.mbrl.dataset import TransitionStore
from simrl.mbrl.models.dynamics import DynamicsModel
from simrl.mbrl.planning.mpc import MPCAgent, RandomActions
from simrl.mbrl.settings import MPCSettings
from simrl.types import StepCallback
from simrl.utils.seeding import derive_seed, generator_state, set_generator_state

MODEL = "model.pt"
POLICY = "policy.pt"
EVAL_PLANNER_SEED = 7_000  # the planner's noise when a policy is evaluated: fixed, so evaluations repeat


def spaces_of(venv: Any) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(obs_dim, act_dim, low, high) of a vec env with flat Box spaces."""
    obs_dim = int(np.prod(venv.observation_space.shape))
    space = venv.action_space
    return obs_dim, int(np.prod(space.shape)), space.low.reshape(-1), space.high.reshape(-1)


def make_agent(
    model: DynamicsModel,
    fns: TaskFns | None,
    settings: MPCSettings,
    low: np.ndarray,
    high: np.ndarray,
    generator: torch.Generator | int,
) -> MPCAgent:
    """An MPC agent on ``model`` with ``settings``; ``generator`` is its planner's (or the seed of a new one)."""
    if isinstance(generator, int):
        generator = torch.Generator().manual_seed(generator)
    return MPCAgent(
        model,
        fns,
        settings.optimizer(),
        horizon=settings.horizon,
        particles=settings.particles,
        propagation=settings.propagation,
        low=low,
        high=high,
        generator=generator,
        uncertainty_penalty=settings.uncertainty_penalty,
    )


class MPCTrainer:
    """The ``mpc`` learner on its training vec env (closed by ``close``).

    Args:
        venv: the training envs (flat Box observation and action spaces).
        settings: checked MPC settings.
        fns: the task's reward and termination functions; None plans with the learned reward.
        seed: the run's seed; the model, the generators and segment reseeding derive from it.
        info: what the policy file's ``simrl`` records beside the step count.
    """

    kind = "mbrl"
    policy_file = POLICY

    def __init__(
        self, venv: Any, *, settings: MPCSettings, fns: TaskFns | None, seed: int, info: dict[str, Any]
    ) -> None:
        self.venv = venv
        self.settings = settings
        self.fns = fns
        self.seed = seed
        self.info = info
        self.obs_dim, self.act_dim, self.low, self.high = spaces_of(venv)
        self.model = DynamicsModel(
            self.obs_dim,
            self.act_dim,
            settings.model,
            generator=torch.Generator().manual_seed(derive_seed(seed, 1)),
        )
        self.rng = np.random.default_rng(derive_seed(seed, 2))
        self.plan_generator = torch.Generator().manual_seed(derive_seed(seed, 3))
        self.store = TransitionStore(self.obs_dim, self.act_dim)
        self.steps = 0
        self.fits = 0
        self.logger: Any = None

    @property
    def num_timesteps(self) -> int:
        return self.steps

    @property
    def step_unit(self) -> int:
        return self.settings.steps_per_fit * self.venv.num_envs

    def set_total_timesteps(self, total: int) -> None:
        pass  # no schedules

    def _collector(self) -> Any:
        if self.steps < self.settings.init_steps:
            return RandomActions(self.low, self.high, self.rng)
        # collection draws from the trainer's own generator (saved with the model)
        return make_agent(self.model, self.fns, self.settings, self.low, self.high, self.plan_generator)

    def learn(self, until: int, callback: StepCallback) -> None:
        if self.steps >= until:
            return
        self.venv.seed(derive_seed(self.seed, self.steps))
        stepper = rollout.Stepper(None, self.venv, self.venv.reset(), deterministic=False)  # type: ignore[arg-type]
        while self.steps < until:
            policy = self._collector()
            if type(policy) is not type(stepper.policy):
                stepper.state = None  # a plan belongs to the agent that made it
            stepper.policy = policy
            ran = rollout.transitions(policy, self.venv, self.settings.steps_per_fit, stepper=stepper)
            self.store.add(ran)
            self.steps += len(ran)
            self._log_episodes(ran)
            if self.steps >= self.settings.init_steps:
                self.fit()
            if not callback(self.steps):
                return

    def fit(self) -> None:
        d = self.store.data()
        report = self.model.fit(d.obs, d.actions, d.next_obs, d.rewards, rng=self.rng)
        self.fits += 1
        if self.logger is not None:
            self.logger.record("train/model_fits", self.fits)
            self.logger.record("train/model_epochs", report.epochs)
            self.logger.record("train/model_train_loss", float(report.train_loss))
            self.logger.record("train/model_holdout_mse", float(np.mean(report.holdout_mse)))
            self.logger.record("time/model_fit_s", float(report.seconds))
            self.logger.record("time/total_timesteps", self.steps)
            self.logger.dump(self.steps)

    def _log_episodes(self, ran: rollout.Transitions) -> None:
        if self.logger is not None and len(ran.episode_returns):
            self.logger.record("rollout/ep_rew_mean", float(np.mean(ran.episode_returns)))
            self.logger.record("rollout/ep_len_mean", float(np.mean(ran.episode_lengths)))

    # ------------------------------------------------------------------ state
    def state_files(self) -> tuple[str, ...]:
        return (MODEL, DATASET)

    def save(self, folder: Path) -> dict[str, Any]:
        policy_file.save_blob(
            folder / MODEL, {"model": self.model.state(), "plan_generator": self.plan_generator.get_state()}
        )
        self.store.save(folder / DATASET)
        self.save_policy(folder / POLICY)  # what `simrl eval RUN --model PCT` and `record --checkpoint` read
        return {"rng": generator_state(self.rng), "steps": self.steps, "fits": self.fits}

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        store = TransitionStore(self.obs_dim, self.act_dim)
        store.load(folder / DATASET)
        blob = policy_file.load_blob(folder / MODEL, ("model", "plan_generator"), "model file")
        try:
            steps, fits = int(state["steps"]), int(state["fits"])
            rng = np.random.default_rng()
            set_generator_state(rng, state["rng"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint '{folder}' has a corrupt state.json ({e})") from None
        if steps != len(store):
            raise CheckpointError(f"checkpoint '{folder}' is inconsistent: {len(store)} transitions for step {steps}")
        self.model.load_state(blob["model"])  # CheckpointError before changing anything when it does not fit
        self.plan_generator.set_state(blob["plan_generator"])
        self.store, self.steps, self.fits, self.rng = store, steps, fits, rng

    # ------------------------------------------------------------------ policy
    def policy(self) -> MPCAgent:
        """An agent on the current model with its own, fixed planner generator (the trainer's is untouched)."""
        return make_agent(self.model, self.fns, self.settings, self.low, self.high, EVAL_PLANNER_SEED)

    def save_policy(self, path: Path) -> None:
        state = {k: v for k, v in self.model.state().items() if k != "optimizer"}
        policy_file.write(path, {**self.info, "num_timesteps": self.steps}, state)

    def set_logger(self, logger: Any) -> None:
        self.logger = logger

    def close(self) -> None:
        self.venv.close()
