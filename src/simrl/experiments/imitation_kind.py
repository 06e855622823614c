"""The ``imitation`` kind: learners from demonstrations (``bc``: behaviour cloning).

Presets live in ``configs/bc.yaml`` (rl-zoo's layout). Unless set, ``policy_kwargs`` is that of simrl's
preset of the ``as`` algorithm for the env (configs/sac.yaml's 64x64 on the pendulum), else SB3's
default, and config.yaml records it resolved. The demonstrations are the run's ``demos`` (``--demos
FILE``, copied into the run folder as demos.npz), or those ``experiments/imitating.py`` collects from
``--expert`` before the run starts. The policy file is a plain SB3 ``model.zip`` of kind ``sb3`` (SAC
or PPO): this kind loads it through the sb3 kind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.types import Policy, Trainer

ALGOS = ("bc",)


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
        _check_policy_kwargs(settings_of(hp))
        return hp

    def build(self, config: Any, base: Path | None = None, *, for_training: bool = True) -> Trainer:
        from simrl.data.demos import Demos
        from simrl.imitation.bc import BCTrainer, settings_of
        from simrl.rl.algos import build_model

        settings = settings_of(config.hyperparams)
        if config.demos is None:  # simrl.api.start collects an expert's first (experiments/imitating.py)
            hint = "give --demos FILE or --expert RUN" if config.expert is None else "collect the expert's first"
            raise ConfigError(f"train {config.algo} needs demonstrations", hint)
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


def _check_policy_kwargs(settings: Any) -> None:
    """ConfigError for a ``policy_kwargs`` key the policy's constructor does not take or a class it does not
    know (checked here, before an expert's demonstrations are collected, not when the model is built)."""
    import difflib
    import inspect

    from simrl.rl.algos import algo_class, build_kwargs

    build_kwargs(settings.as_, settings.model_hyperparams(), n_actions=1)  # class names (activation_fn: relu)
    policy = algo_class(settings.as_).policy_aliases["MlpPolicy"]
    allowed = set(inspect.signature(policy.__init__).parameters) - {
        "self",
        "observation_space",
        "action_space",
        "lr_schedule",
    }
    for key in settings.policy_kwargs:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(allowed))}"
            raise ConfigError(f"unknown policy_kwargs key '{key}' for {settings.as_}'s policy", hint)
