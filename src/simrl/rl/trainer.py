"""The SB3 trainer: Stable-Baselines3 and sb3-contrib algorithms behind simrl's ``Trainer`` protocol.

How resume is exact: the run calls ``learn`` once per segment (one per checkpoint). At every segment
start, in an uninterrupted run and a resumed one alike, the training env is reseeded from
(seed, step) and reset, so the env's internal state never needs saving. With weights, optimiser
states, the replay buffer, the global random states (saved by the run folder) and the action
space's generator restored, a resumed run produces bit for bit the same model.

With ``normalize`` on (rl-zoo's key), the monitored env is wrapped in SB3's ``VecNormalize``. Its
running statistics are part of the state (vecnormalize.npz, and a member of model.zip); its running
return is zeroed and the reset observations counted at every segment start, since the segment's
reset is ``VecNormalize.reset``, so nothing else of it needs saving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simrl.errors import CheckpointError, ConfigError
from simrl.rl import algos, normalize
from simrl.rl.io import load_into, load_model, load_replay_buffer, save_model, save_replay_buffer
from simrl.rl.normalize import Normalization, NormalizedPolicy
from simrl.types import Policy, StepCallback
from simrl.utils import atomic
from simrl.utils.seeding import derive_seed, generator_state, set_generator_state

MODEL, REPLAY_BUFFER, VECNORMALIZE = "model.zip", "replay_buffer.npz", normalize.FILE


class SB3Trainer:
    """An SB3 model on its monitored training vec env.

    Args:
        model: a model built by :func:`simrl.rl.algos.build_model` on ``venv``.
        venv: the training env (closed by ``close``): a ``VecNormalize`` when ``normalized``.
        algo: the algorithm's name.
        seed: the run's seed; segment ``k`` reseeds the env from (seed, step).
        info: what ``model.zip``'s ``simrl.json`` records beside the step count (env id, env
            parameters and kwargs, hyper-parameters).
    """

    kind = "sb3"
    policy_file = MODEL

    def __init__(
        self, model: Any, venv: Any, *, algo: str, seed: int, info: dict[str, Any], normalized: bool = False
    ) -> None:
        self.model = model
        self.venv = venv
        self.vec_normalize = venv if normalized else None
        self.algo = algo
        self.seed = seed
        self.info = info

    @property
    def num_timesteps(self) -> int:
        return int(self.model.num_timesteps)

    @property
    def step_unit(self) -> int:
        return algos.step_unit(self.model)

    def set_total_timesteps(self, total: int) -> None:
        """Schedules (``lin_1e-3``) see progress over the whole run, not the segment."""
        self.model.run_total_timesteps = total

    def learn(self, until: int, callback: StepCallback, extra: Any = None) -> None:
        """Train until ``until`` steps (``callback`` at every rollout start); ``extra``: one more SB3
        callback run after simrl's at every step (MBPO's model fits and rollouts)."""
        from stable_baselines3.common.callbacks import BaseCallback, CallbackList

        class Hook(BaseCallback):
            go_on = True

            # At rollout starts the policy has just been updated with everything collected so far
            # (mid-rollout, a PPO policy is the one of the last update).
            def _on_rollout_start(self) -> None:
                self.go_on = callback(self.num_timesteps)

            def _on_step(self) -> bool:
                return self.go_on

        done = self.num_timesteps
        if until <= done:
            return
        self.venv.seed(derive_seed(self.seed, done))
        self.model._last_obs = None  # SB3 resets the env in learn() only when it has no last observation
        hooks = Hook() if extra is None else CallbackList([Hook(), extra])
        self.model.learn(until - done, callback=hooks, reset_num_timesteps=False, progress_bar=False)

    def state_files(self) -> tuple[str, ...]:
        files = (MODEL, REPLAY_BUFFER) if algos.get_algo(self.algo).off_policy else (MODEL,)
        return (*files, VECNORMALIZE) if self.vec_normalize is not None else files

    def normalization(self) -> Normalization | None:
        """A frozen copy of the current normalization statistics (None without ``normalize``)."""
        return Normalization.of(self.vec_normalize) if self.vec_normalize is not None else None

    def save(self, folder: Path) -> dict[str, Any]:
        self.save_policy(folder / MODEL)
        if REPLAY_BUFFER in self.state_files():
            save_replay_buffer(self.model.replay_buffer, folder / REPLAY_BUFFER)
        stats = self.normalization()
        if stats is not None:
            atomic.write_bytes(folder / VECNORMALIZE, stats.to_bytes())
        return {"action_space_rng": generator_state(self.model.action_space.np_random)}

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        stats = None
        if self.vec_normalize is not None:  # checked before anything is loaded
            stats = normalize.read(folder / VECNORMALIZE)
            where = f"normalization statistics '{folder / VECNORMALIZE}'"
            normalize.check_fits(stats, self.vec_normalize.observation_space.shape, where)
            if stats.settings() != Normalization.of(self.vec_normalize).settings():
                raise CheckpointError(
                    f"{where} were written with other settings {stats.settings()}", "the run's config.yaml was changed"
                )
        load_into(self.model, folder / MODEL, device=self.model.device)
        if REPLAY_BUFFER in self.state_files():
            load_replay_buffer(self.model.replay_buffer, folder / REPLAY_BUFFER)
        try:
            set_generator_state(self.model.action_space.np_random, state["action_space_rng"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint '{folder}' has a corrupt state.json ({e})") from None
        if stats is not None:
            stats.apply_to(self.vec_normalize)

    def policy(self) -> Policy:
        """The model; with normalized observations, one that reads the current statistics (never
        updating them: evaluation runs on its own envs)."""
        if self.vec_normalize is not None and self.vec_normalize.norm_obs:
            return NormalizedPolicy(self.model, self.vec_normalize)
        return self.model

    def save_policy(self, path: Path) -> None:
        info = {**self.info, "num_timesteps": self.num_timesteps}
        save_model(self.model, path, info, self.normalization())

    def set_logger(self, logger: Any) -> None:
        self.model.set_logger(logger)

    def close(self) -> None:
        self.venv.close()


class ComposedSB3:
    """A learner that *is* an SB3 run (an :class:`SB3Trainer`, ``self.sac``) plus work of its own after every
    env step (:meth:`on_env_step`, after the step and before the SB3 update): MBPO's model fits and
    rollouts, seeded SAC's thawing of its actor. It delegates everything else of the ``Trainer``
    protocol; a subclass adds its state files and state to the SB3 run's."""

    policy_file = MODEL

    def __init__(self, sac: SB3Trainer) -> None:
        self.sac = sac

    @property
    def num_timesteps(self) -> int:
        return self.sac.num_timesteps

    @property
    def step_unit(self) -> int:
        return self.sac.step_unit

    def set_total_timesteps(self, total: int) -> None:
        self.sac.set_total_timesteps(total)

    def learn(self, until: int, callback: StepCallback) -> None:
        from stable_baselines3.common.callbacks import BaseCallback

        learner = self

        class EnvStep(BaseCallback):
            def _on_step(self) -> bool:
                learner.on_env_step(int(self.num_timesteps))
                return True

        self.sac.learn(until, callback, extra=EnvStep())

    def on_env_step(self, step: int) -> None:
        """After env step ``step``, before the SB3 update (nothing here)."""

    def policy(self) -> Policy:
        return self.sac.policy()

    def save_policy(self, path: Path) -> None:
        self.sac.save_policy(path)

    def set_logger(self, logger: Any) -> None:
        self.sac.set_logger(logger)

    def close(self) -> None:
        self.sac.close()


def build_trainer(
    algo: str,
    venv: Any,
    hyperparams: dict[str, Any],
    *,
    seed: int,
    device: str,
    info: dict[str, Any],
    for_training: bool = True,
) -> SB3Trainer:
    """A new model of ``algo`` on ``venv`` (monitored here, and normalized when the hyper-parameters
    say ``normalize``) as a trainer; ConfigError for bad settings."""
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    venv = VecMonitor(venv)
    try:
        norm = algos.normalize_kwargs(algo, hyperparams)
        if norm is not None:
            try:
                venv = VecNormalize(venv, training=True, **norm)
            except ValueError as e:  # an observation space it cannot normalize
                raise ConfigError(f"normalize: {str(e).splitlines()[0]}", "set normalize: false") from None
        model = algos.build_model(algo, venv, hyperparams, seed=seed, device=device, for_training=for_training)
    except BaseException:
        venv.close()
        raise
    name = algos.get_algo(algo).name
    return SB3Trainer(model, venv, algo=name, seed=seed, info=info, normalized=norm is not None)


def load_policy(path: Path, env: Any, *, algo: str | None, hyperparams: dict[str, Any] | None, device: str) -> Policy:
    """The SB3 model saved at ``path``, rebuilt on ``env`` without unpickling anything (normalizing
    observations with the statistics saved in it, when it was trained on normalized ones)."""
    return load_model(path, env, algo=algo, hyperparams=hyperparams, device=device)
