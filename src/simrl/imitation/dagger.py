"""``simrl train dagger``: DAgger (Ross, Gordon and Bagnell 2011), any expert relabelling the learner's states.

Round 0 is behaviour cloning on the demonstrations (``--demos``, or the expert's collected as ``simrl train
bc --expert`` collects them): the same fit, seeds and steps as ``simrl train bc --timesteps fit_steps``.
Round i >= 1 rolls out ``episodes_per_round`` episodes of the mixed policy through the rollout collector:
at every env step the expert acts with probability beta_i and the learner otherwise (the original's
per-step mixture; :mod:`simrl.imitation.mixing`), both deterministically; every visited state is labelled
with the expert's deterministic action and added to the dataset, and the learner is fitted again on the
whole dataset by BC's :class:`~simrl.imitation.cloning.Cloner`: ``refit: continue`` from its current
weights (re-expressed for the new rows' observation statistics, with a fresh optimizer), ``scratch``
from the weights it was built with. Each fit takes ``fit_steps`` gradient steps, fewer when the held-out
loss stops improving (``patience``), and keeps the weights of the lowest held-out loss.

The unit of progress is the round: a run's step count is the rounds done, round 0 included (a run is
``rounds + 1`` steps), because a round's env steps vary with its episodes' lengths and only rounds put
every checkpoint and evaluation on a round's end. Every expert label counts against
``expert_label_budget``, the demonstrations' included: the round that reaches it keeps only the rows up to
it, and the rounds after it pass without rollouts or fits (progress.csv's ``dagger/stopped``).

How resume is exact: each round draws from generators seeded by (seed, round) alone (its envs, the
mixing draws, the fit's split and batches), and nothing from the global ones, so a checkpoint, written
at a round's end, holds the learner's weights (``dagger.pt``), the aggregated dataset (``dataset.npz``,
read with ``allow_pickle=False``) and counters; no generator state crosses a round's end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from simrl.errors import CheckpointError, ConfigError
from simrl.imitation.bc import BCSettings
from simrl.imitation.bc import settings_of as bc_settings_of
from simrl.imitation.cloning import Cloner, ObsScaler, first_layers
from simrl.imitation.mixing import SCHEDULES, Dataset, beta_at, rollout_round
from simrl.types import Policy, StepCallback
from simrl.utils.seeding import derive_seed

REFITS = ("continue", "scratch")
STATE, DATASET = "dagger.pt", "dataset.npz"


@dataclass(frozen=True)
class DAggerSettings(BCSettings):
    """DAgger: BC's fit and policy, and the rounds around it."""

    rounds: int = 5
    """DAgger rounds after round 0 (BC); the run takes ``rounds + 1`` steps."""
    episodes_per_round: int = 5
    """Episodes of the mixed policy per round, side by side, each state labelled by the expert."""
    beta_schedule: str = "inverse"
    """The expert's share per round i >= 1: ``inverse`` 1/(1 + i), ``linear`` 1 - i/rounds, ``exponential``
    decay**i, ``constant`` beta."""
    beta: float = 0.5
    """``constant``'s share, in [0, 1]."""
    decay: float = 0.5
    """``exponential``'s factor, in (0, 1]."""
    expert_label_budget: int | None = None
    """Stop labelling when this many expert labels (the demonstrations' rows included) are reached."""
    refit: str = "continue"
    """``continue`` from the current weights or ``scratch`` from the initial ones, every round."""
    fit_steps: int = 2000
    """Gradient steps of each round's fit (round 0's included); fewer when the held-out loss stalls."""

    def check(self) -> None:
        super().check()
        if self.beta_schedule not in SCHEDULES:
            raise ConfigError(
                f"beta_schedule must be one of {', '.join(SCHEDULES)}, got '{self.beta_schedule}'",
                "e.g. --set beta_schedule=inverse",
            )
        if not (math.isfinite(self.beta) and 0.0 <= self.beta <= 1.0):
            raise ConfigError(f"beta must be in [0, 1], got {self.beta}", "the expert's share of the steps")
        if not (math.isfinite(self.decay) and 0.0 < self.decay <= 1.0):
            raise ConfigError(f"decay must be in (0, 1], got {self.decay}", "beta_i = decay**i")
        if self.refit not in REFITS:
            raise ConfigError(f"refit must be one of {', '.join(REFITS)}, got '{self.refit}'")
        for name in ("rounds", "episodes_per_round", "fit_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.expert_label_budget is not None and self.expert_label_budget < 1:
            raise ConfigError(
                f"expert_label_budget must be at least 1, got {self.expert_label_budget}", "null: no budget"
            )

    def beta_at(self, i: int) -> float:
        """The expert's share in round ``i`` (1 in round 0 but for ``constant``)."""
        return beta_at(i, self.beta_schedule, rounds=self.rounds, beta=self.beta, decay=self.decay)


def settings_of(hyperparams: dict[str, Any]) -> DAggerSettings:
    """The checked settings (ConfigError naming the command and the bad key or value)."""
    try:
        return bc_settings_of(hyperparams, DAggerSettings, "dagger")
    except ConfigError as e:
        what = e.what if "dagger" in e.what else f"train dagger: {e.what}"
        raise ConfigError(what, e.hint) from None


def _unfolded(state: dict[str, torch.Tensor], scaler: ObsScaler, layers: list[str]) -> dict[str, torch.Tensor]:
    """``state`` (reading raw observations) re-expressed for ``scaler``'s standardized ones: fold's inverse,
    which is the fold of the inverse standardization (mean -m/s, std 1/s)."""
    return ObsScaler(mean=-scaler.mean / scaler.std, std=1.0 / scaler.std).fold(state, layers)


class DAggerTrainer:
    """DAgger into ``model``'s policy (an SB3 SAC or PPO model built on ``venv``, which is never stepped).

    Args:
        model: the learner (``rl.algos.build_model``); its policy acts on raw observations between rounds.
        venv: the env the model was built on; closed by ``close``.
        demos: round 0's (observations, actions).
        load_expert: a fresh copy of the policy that labels every visited state and acts with probability
            beta, loaded anew every round, so an expert that draws from its own generator (MPC's planner)
            draws the same in a resumed run.
        make_env: ``make_env(n, seed)``, a vec env of ``n`` envs seeded ``seed`` onwards (a round's).
        expert_score: the expert's (mean, std) return on the run's evaluation episodes, measured once.
        settings: checked settings. seed: the run's; every round's generators derive from it.
        info: what the policy's simrl.json records beside the step count.
    """

    kind = "imitation"
    policy_file = "model.zip"

    def __init__(
        self,
        model: Any,
        venv: Any,
        demos: tuple[np.ndarray, np.ndarray],
        *,
        load_expert: Callable[[], Policy],
        make_env: Callable[[int, int], Any],
        expert_score: Callable[[], tuple[float, float]],
        settings: DAggerSettings,
        seed: int,
        info: dict[str, Any],
    ) -> None:
        self.model, self.venv, self.load_expert, self.make_env = model, venv, load_expert, make_env
        self.expert_score, self.settings, self.seed, self.info = expert_score, settings, seed, info
        self.initial = {k: v.detach().clone() for k, v in model.policy.state_dict().items()}
        self.dataset = Dataset.demonstrated(*demos)
        self.rounds_done = 0
        self.stopped = False
        self.expert_return: tuple[float, float] | None = None
        self.log: dict[str, float] = {}  # the last round's numbers, logged and kept in the checkpoint
        self.logger: Any = None
        model.policy.set_training_mode(False)

    @property
    def num_timesteps(self) -> int:
        return self.rounds_done

    @property
    def step_unit(self) -> int:
        return 1

    def set_total_timesteps(self, total: int) -> None:
        self.total = total

    @property
    def labels(self) -> int:
        """Expert labels so far: every row of the dataset, the demonstrations' included."""
        return len(self.dataset)

    # ------------------------------------------------------------------ rounds
    def learn(self, until: int, callback: StepCallback) -> None:
        while self.rounds_done < until:
            if self.stopped:  # the label budget is spent: the rest of the run passes without rounds
                self.rounds_done = until
                self.log = {"dagger/round": until - 1, "dagger/new_rows": 0}
            else:
                self._round(self.rounds_done)
                self.rounds_done += 1
            self._record()
            go_on = callback(self.rounds_done)
            if self.logger is not None and (not go_on or self.rounds_done < until):
                self.logger.dump(self.rounds_done)  # the run dumps the last row, after its evaluation
            if not go_on:
                return

    def _round(self, i: int) -> None:
        s = self.settings
        beta, share, returns = 1.0, 1.0, float("nan")
        if i == 0:
            self.expert_return = self.expert_score()
            new = len(self.dataset)
        else:
            beta = s.beta_at(i)
            venv = self.make_env(s.episodes_per_round, derive_seed(self.seed, 4, i))
            try:
                rng = np.random.default_rng(derive_seed(self.seed, 3, i))
                visited = rollout_round(self.load_expert(), self.model.policy, venv, beta, rng)
            finally:
                venv.close()
            new = len(visited.obs)
            if s.expert_label_budget is not None:
                new = min(new, s.expert_label_budget - self.labels)
            self.dataset = self.dataset.add(visited.obs[:new], visited.labels[:new], i)
            share, returns = float(visited.expert_acted.mean()), float(visited.returns.mean())
        if s.expert_label_budget is not None and self.labels >= s.expert_label_budget:
            self.stopped = True
        report = self._fit(i)
        log = {
            "dagger/round": i,
            "dagger/beta": beta,
            "dagger/new_rows": new,
            "dagger/expert_share": share,
            "rollout/ep_rew_mean": returns,
            "train/gradient_steps": report.steps,
            "train/loss": report.train_loss,
            "train/best_holdout_loss": report.holdout_loss if report.holdout_loss is not None else float("nan"),
            "train/stopped_early": int(report.steps < s.fit_steps),
        }
        self.log = {k: v for k, v in log.items() if math.isfinite(v)}

    def _fit(self, i: int) -> Any:
        """Fit the learner to the whole dataset; afterwards it acts on raw observations."""
        s, policy = self.settings, self.model.policy
        later = () if i == 0 else (i,)  # round 0 draws as `simrl train bc` draws
        cloner = Cloner(
            policy,
            self.dataset.obs,
            self.dataset.labels,
            s,
            rng=np.random.default_rng(derive_seed(self.seed, 2, *later)),
            split_rng=np.random.default_rng(derive_seed(self.seed, 1, *later)),
        )
        if i == 0 or s.refit == "scratch":
            policy.load_state_dict(self.initial)
        elif s.normalize_obs:
            policy.load_state_dict(_unfolded(policy.state_dict(), cloner.scaler, first_layers(policy)))
        cloner.train(s.fit_steps)
        cloner.finish()
        policy.load_state_dict(cloner.folded_state())
        policy.set_training_mode(False)
        return cloner.report()

    def _record(self) -> None:
        if self.logger is None:
            return
        for key, value in self.log.items():
            self.logger.record(key, value)
        self.logger.record("dagger/expert_labels", self.labels)
        self.logger.record("dagger/dataset_size", len(self.dataset))
        if self.expert_return is not None:
            self.logger.record("dagger/expert_return", self.expert_return[0])
        self.logger.record("dagger/stopped", int(self.stopped))
        self.logger.record("time/total_timesteps", self.rounds_done)

    # ------------------------------------------------------------------ state
    def state_files(self) -> tuple[str, ...]:
        return (self.policy_file, STATE, DATASET)

    def save(self, folder: Path) -> dict[str, Any]:
        from simrl.mbrl.policy_file import save_blob

        self.save_policy(folder / self.policy_file)
        save_blob(
            folder / STATE, {"policy": {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}}
        )
        self.dataset.save(folder / DATASET)
        return {
            "rounds_done": self.rounds_done,
            "labels": self.labels,
            "stopped": self.stopped,
            "expert_return": list(self.expert_return) if self.expert_return is not None else None,
        }

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        from simrl.mbrl.policy_file import load_blob

        blob = load_blob(folder / STATE, ("policy",), "DAgger state")
        space = self.venv.observation_space, self.venv.action_space
        dataset = Dataset.load(folder / DATASET, space[0].shape, space[1].shape)
        try:
            rounds_done, labels, stopped = int(state["rounds_done"]), int(state["labels"]), bool(state["stopped"])
            expert = state["expert_return"]
            expert_return = (float(expert[0]), float(expert[1])) if expert is not None else None
            if labels != len(dataset):
                raise ValueError(f"{labels} labels in state.json, {len(dataset)} rows in {DATASET}")
            weights = dict(blob["policy"])
            own = self.model.policy.state_dict()
            if {k: tuple(v.shape) for k, v in weights.items()} != {k: tuple(v.shape) for k, v in own.items()}:
                raise ValueError("weights of other names or shapes than the policy's")
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise CheckpointError(
                f"checkpoint '{folder}' does not fit this run ({e})", "use another checkpoint"
            ) from None
        self.model.policy.load_state_dict(weights)
        self.dataset, self.rounds_done, self.stopped, self.expert_return = dataset, rounds_done, stopped, expert_return
        self.model.policy.set_training_mode(False)

    # ------------------------------------------------------------------ policy
    def policy(self) -> Policy:
        """The learner as it stands after the last round, acting on raw observations."""
        return self.model.policy

    def save_policy(self, path: Path) -> None:
        """A plain SB3 model.zip of the learner (observation statistics folded in, as BC's)."""
        from simrl.rl.io import save_model

        save_model(self.model, path, {**self.info, "num_timesteps": self.rounds_done})

    def set_logger(self, logger: Any) -> None:
        self.logger = logger

    def close(self) -> None:
        self.venv.close()
