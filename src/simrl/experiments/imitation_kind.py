"""The ``imitation`` kind: learners from demonstrations (``bc``: behaviour cloning; ``dagger``: DAgger;
``seeded-sac``: SAC seeded from imitation, the demonstrations in every batch).

Presets live in ``configs/bc.yaml`` (rl-zoo's layout). Unless set, ``policy_kwargs`` is that of simrl's
preset of the ``as`` algorithm for the env (configs/sac.yaml's 64x64 on the pendulum), else SB3's
default, and config.yaml records it resolved. The demonstrations are the run's ``demos`` (``--demos
FILE``, copied into the run folder as demos.npz), or those ``experiments/imitating.py`` collects from
``--expert`` before the run starts. The policy file is a plain SB3 ``model.zip`` of kind ``sb3`` (SAC
or PPO): this kind loads it through the sb3 kind.

``dagger`` also queries its expert while it trains: ``--expert`` is required (``--demos`` optional), and
the run keeps a copy of the expert's policy file (``expert.zip``, ``expert.pt``: config's
``expert_policy``), loaded through the registry's ``load_policy_file``, which the registry hands this kind
when it registers it (the registry imports this module, so this module cannot import the registry). A
run's length is its rounds: ``rounds + 1`` steps, round 0 (BC) included (:meth:`run_length`).

``seeded-sac`` counts env steps, as SAC does. Its ``sac:`` block is simrl's SAC preset for the env
(configs/sac.yaml) under configs/seeded-sac.yaml's ``sac:`` block (``learning_starts: 0``), then the
file's, overrides' and ``--set sac.KEY=...``; its ``n_timesteps``, unless set, is SAC's preset's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.types import Policy, Trainer

LOOP_KEYS = ("n_timesteps", "n_envs", "vec_env")

ALGOS = ("bc", "dagger", "seeded-sac")
SEEDED = "seeded-sac"


def _settings_of(algo: str, hyperparams: dict[str, Any]) -> Any:
    if algo == SEEDED:
        from simrl.imitation.seeded import settings_of as seeded_settings_of

        return seeded_settings_of(hyperparams)
    if algo == "dagger":
        from simrl.imitation.dagger import settings_of as dagger_settings_of

        return dagger_settings_of(hyperparams)
    from simrl.imitation.bc import settings_of

    return settings_of(hyperparams)


class ImitationKind:
    name = "imitation"
    policy_file = "model.zip"
    uses_demos = True
    """Its runs take demonstrations (``--demos``, ``--expert``, ``--demo-episodes``)."""

    def __init__(self, load_policy_file: Callable[..., Policy] | None = None) -> None:
        self.load_policy_file = load_policy_file
        """``kinds.load_policy_file``: a policy file of any kind (DAgger's expert)."""

    def algos(self) -> tuple[str, ...]:
        return ALGOS

    def queries_expert(self, algo: str) -> bool:
        """Whether ``algo`` asks its expert for labels while it trains (so needs ``--expert`` and keeps it)."""
        return algo == "dagger"

    def run_length(self, algo: str, hyperparams: dict[str, Any]) -> int | None:
        """The steps of ``algo``'s runs when its settings fix them (DAgger: one per round), else None."""
        return _settings_of(algo, hyperparams).rounds + 1 if algo == "dagger" else None

    def resolve_hyperparams(
        self, algo: str, env_id: str, *, file: Path | None, overrides: dict[str, Any], sets: list[str]
    ) -> dict[str, Any]:
        from simrl.experiments.hyperparams import layered

        if algo == SEEDED:
            return _seeded_hyperparams(env_id, file=file, overrides=overrides, sets=sets)
        hp = layered(algo, env_id, file=file, overrides=overrides, sets=sets)
        settings = _settings_of(algo, hp)  # names, types and ranges, before the as-algorithm's preset is read
        if "policy_kwargs" not in hp:
            hp["policy_kwargs"] = _preset_policy_kwargs(settings.as_, env_id)
        _check_policy_kwargs(_settings_of(algo, hp))
        return hp

    def build(self, config: Any, base: Path | None = None, *, for_training: bool = True) -> Trainer:
        from simrl.data.demos import Demos
        from simrl.imitation.bc import BCTrainer
        from simrl.rl.algos import build_model

        settings = _settings_of(config.algo, config.hyperparams)
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
            if config.algo == SEEDED:
                return self._seeded(config, venv, demos, settings, for_training=for_training)
            model = build_model(
                settings.as_, venv, settings.model_hyperparams(), seed=config.seed, device=config.device
            )
            info = config.policy_info(
                "sb3",
                algo=settings.as_,
                hyperparams=settings.model_hyperparams(),
                learner={"kind": self.name, "algo": config.algo, "hyperparams": config.hyperparams},
            )
            if config.algo == "dagger":
                return self._dagger(config, base, model, venv, demos, settings, info)
            return BCTrainer(
                model, venv, demos.observations, demos.expert_actions, settings=settings, seed=config.seed, info=info
            )
        except BaseException:
            venv.close()
            raise

    def _seeded(self, config: Any, venv: Any, demos: Any, settings: Any, *, for_training: bool) -> Trainer:
        """SAC on ``venv`` (monitored by the sb3 trainer, which closes it), seeded from ``demos``."""
        from simrl.imitation.seeded import SeededSACTrainer
        from simrl.rl.trainer import build_trainer

        learner = {"kind": self.name, "algo": config.algo, "hyperparams": config.hyperparams}
        info = config.policy_info("sb3", algo="sac", hyperparams=settings.sac, learner=learner)
        trainer = build_trainer(
            "sac", venv, settings.sac, seed=config.seed, device=config.device, info=info, for_training=for_training
        )
        try:
            return SeededSACTrainer(trainer, demos, settings=settings, seed=config.seed)
        except BaseException:
            trainer.close()
            raise

    def _dagger(self, config: Any, base: Path | None, model: Any, venv: Any, demos: Any, settings: Any, info: Any):
        """The DAgger trainer, with its expert (the run's copy, or the file before the run exists)."""
        from simrl.envs.params import load_samples
        from simrl.envs.vec import make_vec_env
        from simrl.evaluation.evaluate import evaluate
        from simrl.imitation.dagger import DAggerTrainer

        if config.expert_policy is None or self.load_policy_file is None:
            raise ConfigError(f"train {config.algo} needs its expert's policy file", "start it with --expert RUN")
        load_policy_file, path = self.load_policy_file, Path(base or ".") / config.expert_policy

        def load_expert() -> Policy:
            return load_policy_file(path, env_id=config.env_id, env_kwargs=config.env_kwargs)

        load_expert()  # a file that does not load fails now, before the run starts
        samples = load_samples(Path(base or ".") / config.param_samples) if config.param_samples else None

        def make_env(n: int, seed: int) -> Any:
            randomize = {k: tuple(v) for k, v in config.randomize.items()}
            return make_vec_env(
                config.env_id, n, seed=seed, params=config.env_params, randomize=randomize, samples=samples,
                env_kwargs=config.env_kwargs,
            )  # fmt: skip

        def expert_score() -> tuple[float, float]:  # on the run's evaluation episodes, as the run evaluates
            c = config
            result = evaluate(load_expert(), c.env_id, c.eval_episodes, params=c.env_params, env_kwargs=c.eval_kwargs)
            return result.mean, result.std

        return DAggerTrainer(
            model,
            venv,
            (demos.observations, demos.expert_actions),
            load_expert=load_expert,
            make_env=make_env,
            expert_score=expert_score,
            settings=settings,
            seed=config.seed,
            info=info,
        )

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


def _preset_block(algo: str, env_id: str) -> dict[str, Any]:
    """simrl's ``algo`` preset for ``env_id`` (configs/<algo>.yaml's default and env blocks)."""
    from simrl.experiments.hyperparams import preset_path, read_yaml, zoo_blocks

    preset = preset_path(algo)
    return zoo_blocks(read_yaml(preset, "preset"), env_id, f"configs/{algo}.yaml") if preset.is_file() else {}


def _preset_policy_kwargs(algo: str, env_id: str) -> dict[str, Any]:
    """``policy_kwargs`` of simrl's ``algo`` preset for ``env_id`` ({} where it has none: SB3's default)."""
    return dict(_preset_block(algo, env_id).get("policy_kwargs") or {})


def _seeded_hyperparams(
    env_id: str, *, file: Path | None, overrides: dict[str, Any], sets: list[str]
) -> dict[str, Any]:
    """seeded-sac's hyper-parameters: its presets and the user's, over SAC's preset for the env (module doc)."""
    from simrl.experiments.hyperparams import layered, merge_nested

    sac = _preset_block("sac", env_id)
    loop = {k: sac.pop(k) for k in LOOP_KEYS if k in sac}
    sac.pop("policy", None)  # MlpPolicy: the only policy seeding fits
    base = {**loop, "sac": sac}
    hp = layered(SEEDED, env_id, file=file, overrides=overrides, sets=sets, merge=merge_nested("clone", "sac"))
    merge_nested("clone", "sac")(base, hp)
    _settings_of(SEEDED, base)
    return base


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
