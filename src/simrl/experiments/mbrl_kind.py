"""The ``mbrl`` kind: model-based learners (``mpc``: MPC with a learned model, PETS at its defaults;
``mbpo``: SAC trained on a learned model's rollouts).

Presets live in ``configs/<algo>.yaml`` (rl-zoo's layout: a ``default:`` block and blocks per env id);
the dynamics model's settings sit in a nested ``model:`` block, MBPO's SAC settings in a ``sac:`` block.
MPC's policy file is ``policy.pt`` (``simrl.mbrl.policy_file``): the model's tensors and its simrl.json,
read with ``weights_only=True``. MBPO's is SAC's ``model.zip`` of kind ``sb3`` (plain ``SAC.load`` reads
it); this kind loads it from a run folder through the sb3 kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.types import Policy, Trainer

ALGOS = ("mpc", "mbpo")


def settings_of(algo: str, hyperparams: dict[str, Any]) -> Any:
    """The checked settings object of ``algo`` (ConfigError naming the bad key or value)."""
    from simrl.mbrl.settings import MBPOSettings, MPCSettings, from_mapping

    cls = MBPOSettings if algo == "mbpo" else MPCSettings
    settings = from_mapping(cls, hyperparams)
    settings.check()
    return settings


def task_fns_for(env_id: str, env_kwargs: dict[str, Any], env_params: dict[str, Any], settings: Any) -> Any:
    """The task's reward and termination functions (None where simrl has none: no terminations then).

    ConfigError when the env has none and the model is not asked to learn the reward. With
    ``model.learn_reward`` the model's reward is used and the functions only end imagined episodes.
    """
    from simrl.envs.fns import task_fns

    fns = task_fns(env_id, env_kwargs, env_params)
    if fns is None and not settings.model.learn_reward:
        raise ConfigError(
            f"simrl has no reward function for {env_id} to plan with", "set model.learn_reward=true to learn one"
        )
    return fns


class MBRLKind:
    name = "mbrl"
    policy_file = "policy.pt"

    def algos(self) -> tuple[str, ...]:
        return ALGOS

    def policy_file_for(self, algo: str) -> str:
        """MPC's ``policy.pt``; MBPO's SAC ``model.zip``."""
        return "model.zip" if algo == "mbpo" else self.policy_file

    def resolve_hyperparams(
        self, algo: str, env_id: str, *, file: Path | None, overrides: dict[str, Any], sets: list[str]
    ) -> dict[str, Any]:
        from simrl.experiments.hyperparams import layered, merge_nested

        # the model: and sac: blocks of presets, files and overrides update key by key
        hp = layered(algo, env_id, file=file, overrides=overrides, sets=sets, merge=merge_nested("model", "sac"))
        settings_of(algo, hp)  # the loop keys (n_timesteps, ...) pass: the run takes them out
        return hp

    def build(self, config: Any, base: Path | None = None, *, for_training: bool = True) -> Trainer:
        from simrl.mbrl.mpc_trainer import MPCTrainer

        settings = settings_of(config.algo, config.hyperparams)
        if config.algo == "mbpo":
            return _build_mbpo(config, settings, base, for_training=for_training)
        fns = task_fns_for(config.env_id, config.env_kwargs, config.env_params, settings)
        venv = config.make_env(base)
        try:
            _check_spaces(venv, config.env_id)
        except BaseException:
            venv.close()
            raise
        info = config.policy_info(self.name)
        return MPCTrainer(venv, settings=settings, fns=fns, seed=config.seed, info=info)

    def read_info(self, path: Path) -> dict[str, Any] | None:
        from simrl.mbrl import policy_file

        if Path(path).suffix != policy_file.SUFFIX:
            return None
        info, _ = policy_file.read(Path(path))
        return info if info.get("kind") == self.name else None

    def load_policy(
        self,
        path: Path,
        *,
        env_id: str,
        env_kwargs: dict[str, Any],
        algo: str | None,
        hyperparams: dict[str, Any] | None,
        device: str,
    ) -> Policy:
        import torch

        from simrl.envs.vec import make_vec_env
        from simrl.errors import CheckpointError
        from simrl.mbrl import policy_file
        from simrl.mbrl.models.dynamics import DynamicsModel
        from simrl.mbrl.mpc_trainer import EVAL_PLANNER_SEED, make_agent, spaces_of

        if algo == "mbpo" or Path(path).suffix == ".zip":  # MBPO's SAC model.zip, read as the sb3 kind reads it
            from simrl.experiments.sb3_kind import SB3Kind

            sac = settings_of("mbpo", hyperparams).sac_hyperparams() if hyperparams is not None else None
            return SB3Kind().load_policy(
                path, env_id=env_id, env_kwargs=env_kwargs, algo="sac", hyperparams=sac, device=device
            )
        info, state = policy_file.read(Path(path))
        try:
            settings = settings_of(info.get("algo", "mpc"), hyperparams or info["hyperparams"])
        except (ConfigError, KeyError) as e:
            raise CheckpointError(f"policy file '{path}' holds settings simrl cannot read ({e})") from None
        fns = task_fns_for(env_id, env_kwargs, info.get("env_params") or {}, settings)
        env = make_vec_env(env_id, 1, env_kwargs=env_kwargs)
        try:
            obs_dim, act_dim, low, high = spaces_of(env)
        finally:
            env.close()
        model = DynamicsModel(obs_dim, act_dim, settings.model, generator=torch.Generator().manual_seed(0))
        model.load_state(state, optimizer=False)
        return make_agent(model, fns, settings, low, high, EVAL_PLANNER_SEED)


def _build_mbpo(config: Any, settings: Any, base: Path | None, *, for_training: bool) -> Trainer:
    from simrl.mbrl.mbpo import MBPOTrainer
    from simrl.rl.trainer import build_trainer

    fns = task_fns_for(config.env_id, config.env_kwargs, config.env_params, settings)
    if config.n_envs != 1:
        raise ConfigError(f"mbpo trains on one env, got n_envs={config.n_envs}", "set n_envs: 1")
    venv = config.make_env(base)
    try:
        _check_spaces(venv, config.env_id)
    except BaseException:
        venv.close()
        raise
    sac = settings.sac_hyperparams()
    # the policy is a plain SAC model: every reader of an SB3 zip reads it
    info = config.policy_info(
        "sb3",
        algo="sac",
        hyperparams=sac,
        learner={"kind": "mbrl", "algo": config.algo, "hyperparams": config.hyperparams},
    )
    trainer = build_trainer(
        "sac", venv, sac, seed=config.seed, device=config.device, info=info, for_training=for_training
    )
    try:
        return MBPOTrainer(trainer, settings=settings, fns=fns, seed=config.seed)
    except BaseException:
        trainer.close()
        raise


def _check_spaces(venv: Any, env_id: str) -> None:
    from gymnasium import spaces

    if not isinstance(venv.action_space, spaces.Box) or not isinstance(venv.observation_space, spaces.Box):
        raise ConfigError(f"{env_id}: model-based learners need Box observation and action spaces")
    if len(venv.observation_space.shape) != 1:
        raise ConfigError(f"{env_id}: model-based learners need flat (1-D) observations")
