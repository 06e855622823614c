"""``simrl train bc``: behaviour cloning of demonstrations into an SB3 policy (SAC's actor or PPO's policy).

The unit of progress is the gradient step: the run's ``n_timesteps`` is the number of gradient steps,
its checkpoints and evaluations fall on multiples of ``check_freq`` (the held-out check's interval),
and each unit ends with the run's callback, where the policy has just been updated. When the held-out
loss has stopped improving (``patience`` checks), the fit puts back its best weights and the rest of the
budget passes without updates, so the run still reaches its step count and its folder is like any
other (progress.csv's ``train/gradient_steps`` says how many were taken). At the end of the budget the
best held-out weights are put back as well.

The policy file is a plain SB3 ``model.zip`` (SAC or PPO, as ``as`` says) whose simrl.json says kind
``sb3``: the observation statistics are folded into the actor's first layer, so SB3's own ``load`` gets
a policy acting on raw observations, and RL can train it further. The critic (SAC) or value network
(PPO) and the SB3 optimizers are left as built: RL starts them fresh.

How resume is exact: the rows are split by a generator seeded from the run's seed (drawn again, not
saved); the checkpoint's ``bc.pt`` holds the actor's weights as trained (on standardized observations),
the optimizer and the best held-out weights, and its plain state the batch generator, the counters and
the early-stopping state. The update draws nothing from torch's generators.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from simrl.errors import CheckpointError, ConfigError
from simrl.imitation.cloning import Cloner, CloneSettings
from simrl.types import Policy, StepCallback
from simrl.utils.seeding import derive_seed

AS = ("sac", "ppo")
STATE = "bc.pt"


@dataclass(frozen=True)
class BCSettings(CloneSettings):
    """Behaviour cloning: the fit's settings and the policy it fits. ``as`` is the key of ``as_``."""

    as_: str = "sac"
    """The SB3 policy the clone is: ``sac`` (SAC's actor, a squashed Gaussian) or ``ppo`` (PPO's policy)."""
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    """The policy's ``policy_kwargs`` (``net_arch``...), plain YAML as in configs/sac.yaml."""

    def check(self) -> None:
        super().check()
        if self.as_ not in AS:
            raise ConfigError(f"as must be one of {', '.join(AS)}, got '{self.as_}'", "e.g. --set as=ppo")
        if not isinstance(self.policy_kwargs, dict):
            raise ConfigError(f"policy_kwargs must be a mapping, got {self.policy_kwargs!r}")
        from simrl.rl import algos

        algos.check_ranges({"policy_kwargs": self.policy_kwargs})

    def model_hyperparams(self) -> dict[str, Any]:
        """The SB3 hyper-parameters of the clone's model (SB3's defaults but ``policy_kwargs``)."""
        return {"policy_kwargs": copy.deepcopy(self.policy_kwargs)} if self.policy_kwargs else {}


S = TypeVar("S", bound=BCSettings)


def settings_of(hyperparams: dict[str, Any], cls: type[S] = BCSettings, algo: str = "bc") -> S:  # type: ignore[assignment]
    """The checked settings of ``algo`` (a ``cls``: BCSettings or one that extends it); ConfigError naming
    the bad key or value, with a "did you mean"."""
    import difflib

    from simrl.mbrl.settings import LOOP_KEYS, from_mapping

    allowed = [("as" if f.name == "as_" else f.name) for f in dataclasses.fields(cls)] + list(LOOP_KEYS)
    for key in hyperparams:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(allowed))}"
            raise ConfigError(f"unknown hyper-parameter '{key}' for {algo}", hint)
    mapping = {("as_" if k == "as" else k): v for k, v in hyperparams.items() if k not in LOOP_KEYS}
    if mapping.get("as_", "sac") not in AS:
        raise ConfigError(f"as must be one of {', '.join(AS)}, got '{mapping['as_']}'", "e.g. --set as=ppo")
    settings = from_mapping(cls, mapping)
    settings.check()
    return settings


class BCTrainer:
    """Behaviour cloning of ``obs``/``actions`` into ``model``'s policy (built on ``venv``, closed by ``close``).

    Args:
        model: an SB3 SAC or PPO model (``rl.algos.build_model``) whose policy is fitted.
        venv: the env the model was built on (its spaces); never stepped.
        obs, actions: the demonstrations' rows (raw observations, actions as the env takes them).
        settings: checked settings.
        seed: the run's seed; the split and the batches derive from it.
        info: what the policy's simrl.json records beside the step count.
    """

    kind = "imitation"
    policy_file = "model.zip"

    def __init__(
        self,
        model: Any,
        venv: Any,
        obs: np.ndarray,
        actions: np.ndarray,
        *,
        settings: BCSettings,
        seed: int,
        info: dict[str, Any],
    ) -> None:
        self.model, self.venv, self.settings, self.info = model, venv, settings, info
        self.cloner = Cloner(
            model.policy,
            obs,
            actions,
            settings,
            rng=np.random.default_rng(derive_seed(seed, 2)),
            split_rng=np.random.default_rng(derive_seed(seed, 1)),
        )
        self.acting = copy.deepcopy(model.policy)  # what policy() hands out: the folded weights
        self.acting.set_training_mode(False)
        self.steps = 0
        self.total = 0
        self.logger: Any = None

    @property
    def num_timesteps(self) -> int:
        return self.steps

    @property
    def step_unit(self) -> int:
        return self.settings.check_freq

    def set_total_timesteps(self, total: int) -> None:
        self.total = total

    def learn(self, until: int, callback: StepCallback) -> None:
        while self.steps < until:
            if self.cloner.stopped:  # early stopped: the rest of the budget passes without updates
                self.steps = until
            else:
                n = min(self.step_unit, until - self.steps)
                self.cloner.train(n)
                self.steps += n
                if self.total and self.steps >= self.total:
                    self.cloner.finish()  # the end of the budget: the best held-out weights
            self._log()
            if not callback(self.steps):
                return

    def _log(self) -> None:
        if self.logger is None:
            return
        c = self.cloner
        self.logger.record("train/gradient_steps", c.steps)
        if c.last_train_loss is not None:
            self.logger.record("train/loss", c.last_train_loss)
        if c.last_holdout_loss is not None:
            self.logger.record("train/holdout_loss", c.last_holdout_loss)
            self.logger.record("train/best_holdout_loss", c.best_loss)
        self.logger.record("train/stopped", int(c.stopped))
        self.logger.record("time/total_timesteps", self.steps)
        self.logger.dump(self.steps)

    # ------------------------------------------------------------------ state
    def state_files(self) -> tuple[str, ...]:
        return (self.policy_file, STATE)

    def save(self, folder: Path) -> dict[str, Any]:
        from simrl.mbrl.policy_file import save_blob

        self.save_policy(folder / self.policy_file)
        tensors, plain = self.cloner.state()
        save_blob(folder / STATE, tensors)
        return {"steps": self.steps, "cloner": plain}

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        from simrl.mbrl.policy_file import load_blob

        tensors = load_blob(folder / STATE, ("params", "optimizer", "best_params"), "behaviour cloning state")
        try:
            steps, plain = int(state["steps"]), dict(state["cloner"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint '{folder}' has a corrupt state.json ({e})") from None
        self.cloner.load_state(tensors, plain, f"checkpoint '{folder}'")
        self.steps = steps

    # ------------------------------------------------------------------ policy
    def policy(self) -> Policy:
        """The current policy, acting on raw observations (a copy: acting never touches the fit)."""
        self.acting.load_state_dict(self.cloner.folded_state())
        return self.acting

    def save_policy(self, path: Path) -> None:
        """A plain SB3 model.zip of the current policy (observation statistics folded in)."""
        from simrl.rl.io import save_model

        policy = self.model.policy
        trained = {k: v.detach().clone() for k, v in policy.state_dict().items()}
        policy.load_state_dict(self.cloner.folded_state())
        try:
            save_model(self.model, path, {**self.info, "num_timesteps": self.steps})
        finally:
            policy.load_state_dict(trained)

    def set_logger(self, logger: Any) -> None:
        self.logger = logger

    def close(self) -> None:
        self.venv.close()
