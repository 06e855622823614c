"""The ``imitation`` kind: learners from demonstrations (``bc``: behaviour cloning).

Presets live in ``configs/bc.yaml`` (rl-zoo's layout). Unless set, ``policy_kwargs`` is that of simrl's
preset of the ``as`` algorithm for the env (configs/sac.yaml's 64x64 on the pendulum), else SB3's
default, and config.yaml records it resolved. The demonstrations are the run's ``demos`` (``--demos
FILE``, copied into the run folder as demos.npz), or collected before the run starts from ``--expert``
(a run folder or policy file of any kind) in the run's env: ``demo_episodes`` deterministic episodes
from ``simrl collect``'s seed. The policy file is a plain SB3 ``model.zip`` of kind ``sb3`` (SAC or PPO):
this kind loads it through the sb3 kind.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.types import Policy, Trainer

ALGOS = ("bc",)
DEMOS = "demos.npz"
EXPERT_EPISODES = 10
"""Episodes collected from ``--expert`` when ``--demo-episodes`` is not given."""


class ImitationKind:
    name = "imitation"
    policy_file = "model.zip"
    uses_demos = True
    """Its runs take demonstrations (``--demos``, ``--expert``, ``--demo-episodes``)."""

    def algos(self) -> tuple[str, ...]:
        return ALGOS

    def resolve_hyperparams(
        self, algo: str, env_id: str, *, file: Path | None, overrides: dict[str, Any], sets: list[str]
    ) -> dict[str, Any]:
        import copy

        from simrl.experiments.hyperparams import apply_set, preset_path, read_yaml, zoo_blocks
        from simrl.imitation.bc import settings_of

        preset = preset_path(algo)
        hp = zoo_blocks(read_yaml(preset, "preset"), env_id, f"configs/{algo}.yaml") if preset.is_file() else {}
        if file is not None:
            hp.update(zoo_blocks(read_yaml(file, "hyper-parameter file"), env_id, str(file), strict=True))
        hp.update(copy.deepcopy(dict(overrides)))
        for text in sets:
            apply_set(hp, text)
        settings = settings_of(hp)  # names, types and ranges, before the as-algorithm's preset is read
        if "policy_kwargs" not in hp:
            hp["policy_kwargs"] = _preset_policy_kwargs(settings.as_, env_id)
        settings_of(hp)
        return hp

    def build(self, config: Any, base: Path | None = None, *, for_training: bool = True) -> Trainer:
        from simrl.data.demos import Demos
        from simrl.imitation.bc import BCTrainer, settings_of
        from simrl.rl.algos import build_model

        settings = settings_of(config.hyperparams)
        if config.demos is None:
            raise ConfigError(f"train {config.algo} needs demonstrations", "give --demos FILE or --expert RUN")
        venv = config.make_env(base)
        try:
            space = venv.observation_space, venv.action_space
            path = Path(base or ".") / config.demos
            demos = Demos.load(path, env_id=config.env_id, obs_shape=space[0].shape, act_shape=space[1].shape)
            if config.demo_episodes is not None:
                if config.demo_episodes > demos.n_episodes:
                    raise ConfigError(
                        f"--demo-episodes {config.demo_episodes}: '{path}' holds {demos.n_episodes} episodes"
                    )
                demos = demos.first(config.demo_episodes)
            model = build_model(
                settings.as_, venv, settings.model_hyperparams(), seed=config.seed, device=config.device
            )
            info = config.policy_info(
                "sb3",
                algo=settings.as_,
                hyperparams=settings.model_hyperparams(),
                learner={"kind": self.name, "algo": config.algo, "hyperparams": config.hyperparams},
            )
            return BCTrainer(
                model, venv, demos.observations, demos.actions, settings=settings, seed=config.seed, info=info
            )
        except BaseException:
            venv.close()
            raise

    def prepare(self, config: Any, scratch: Path) -> Any:
        """With ``--expert``: check its spaces against the env's, then collect its demonstrations into
        ``scratch`` (the run keeps a copy); the config then names them."""
        if config.expert is None:
            return config
        from simrl.data.demos import Source, collect
        from simrl.experiments.collecting import DEFAULT_SEED
        from simrl.experiments.targets import resolve_target

        expert = Path(config.expert)
        check_expert(expert, config)
        t = resolve_target(expert, env_id=config.env_id, env_params=config.env_params, env_kwargs=config.env_kwargs)
        episodes = config.demo_episodes or EXPERT_EPISODES
        demos = collect(
            t.model,
            config.env_id,
            episodes,
            source=Source(path=str(t.model_path.resolve()), kind=t.kind, algo=t.algo),
            seed=DEFAULT_SEED,
            deterministic=True,
            params=config.env_params,
            env_kwargs=config.env_kwargs,
        )
        demos.save(scratch / DEMOS)
        return dataclasses.replace(config, demos=str(scratch / DEMOS), demo_episodes=episodes)

    def read_info(self, path: Path) -> dict[str, Any] | None:
        return None  # its policy files are SB3 zips of kind sb3

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
        from simrl.experiments.sb3_kind import SB3Kind

        # the zip's simrl.json names its algorithm (sac, ppo) and the hyper-parameters it was built with
        return SB3Kind().load_policy(
            path, env_id=env_id, env_kwargs=env_kwargs, algo=None, hyperparams=None, device=device
        )


def _preset_policy_kwargs(algo: str, env_id: str) -> dict[str, Any]:
    """``policy_kwargs`` of simrl's ``algo`` preset for ``env_id`` ({} where it has none: SB3's default)."""
    from simrl.experiments.hyperparams import preset_path, read_yaml, zoo_blocks

    preset = preset_path(algo)
    block = zoo_blocks(read_yaml(preset, "preset"), env_id, f"configs/{algo}.yaml") if preset.is_file() else {}
    return dict(block.get("policy_kwargs") or {})


def check_expert(expert: Path, config: Any) -> None:
    """ConfigError when the expert's own env observes or acts differently from the run's env.

    The expert's env is its run's, or the one its policy file records; a plain SB3 zip records none and
    is taken to be of the run's env (loading its weights then checks the shapes).
    """
    import numpy as np

    from simrl.envs.vec import make_env
    from simrl.errors import CheckpointError
    from simrl.experiments.kinds import kind_of_file
    from simrl.experiments.training import load_run_config

    if expert.is_dir():
        run, _ = load_run_config(expert)
        env_id, kwargs, params = run.env_id, run.env_kwargs, run.env_params
    elif expert.is_file():
        _, info = kind_of_file(expert)
        env_id, kwargs, params = info.get("env_id"), info.get("env_kwargs") or {}, info.get("env_params") or {}
    else:
        raise CheckpointError(f"expert '{expert}' does not exist", "give a run folder or a policy file")
    if env_id is None:
        return
    spaces = []
    for eid, kw, p in ((env_id, kwargs, params), (config.env_id, config.env_kwargs, config.env_params)):
        env = make_env(eid, p, kw)
        spaces.append((env.observation_space, env.action_space))
        env.close()
    (obs_e, act_e), (obs_r, act_r) = spaces

    def same(a: Any, b: Any) -> bool:
        if type(a) is not type(b) or a.shape != b.shape:
            return False
        return not hasattr(a, "low") or (np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high))

    hint = "clone an expert trained on the same task"
    if not same(act_e, act_r):
        raise ConfigError(f"expert '{expert}' acts in {act_e} ({env_id}); {config.env_id} takes {act_r}", hint)
    if obs_e.shape != obs_r.shape:
        raise ConfigError(
            f"expert '{expert}' observes shape {obs_e.shape} ({env_id}); {config.env_id} gives {obs_r.shape}", hint
        )
