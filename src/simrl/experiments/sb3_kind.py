"""The ``sb3`` kind: PPO, A2C, SAC, TD3 (Stable-Baselines3), TQC and CrossQ (sb3-contrib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simrl.types import Policy, Trainer


class SB3Kind:
    name = "sb3"
    policy_file = "model.zip"

    def algos(self) -> tuple[str, ...]:
        from simrl.rl.algos import ALGOS

        return tuple(ALGOS)

    def resolve_hyperparams(
        self, algo: str, env_id: str, *, file: Path | None, overrides: dict[str, Any], sets: list[str]
    ) -> dict[str, Any]:
        import copy

        from simrl.experiments.hyperparams import apply_set, preset_path, read_yaml, split_assignment, zoo_blocks
        from simrl.rl.algos import check_keys

        preset = preset_path(algo)
        hp = zoo_blocks(read_yaml(preset, "preset"), env_id, f"configs/{algo}.yaml") if preset.is_file() else {}
        check_keys(algo, hp, f"configs/{algo}.yaml")
        if file is not None:
            extra = zoo_blocks(read_yaml(file, "hyper-parameter file"), env_id, str(file), strict=True)
            check_keys(algo, extra, str(file))
            hp.update(extra)
        if overrides:
            check_keys(algo, overrides, "the hyper-parameters given")
            hp.update(copy.deepcopy(dict(overrides)))
        for text in sets:
            apply_set(hp, text)
            check_keys(algo, {split_assignment(text, "--set")[0].split(".")[0]: None}, "--set")
        return hp

    def build(self, config: Any, base: Path | None = None, *, for_training: bool = True) -> Trainer:
        from simrl.rl.trainer import build_trainer

        venv = config.make_env(base)
        info = config.policy_info(self.name)
        return build_trainer(
            config.algo,
            venv,
            config.hyperparams,
            seed=config.seed,
            device=config.device,
            info=info,
            for_training=for_training,
        )

    def read_info(self, path: Path) -> dict[str, Any] | None:
        import zipfile

        from simrl.rl.io import read_model_info

        if path.suffix == ".pt" or (not zipfile.is_zipfile(path) and path.suffix != ".zip"):
            return None  # a torch file is a zip too, but never an SB3 model
        info = read_model_info(path)["info"]
        if info.get("kind", self.name) != self.name:
            return None
        return info

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
        from simrl.envs.vec import make_vec_env
        from simrl.rl.trainer import load_policy

        env = make_vec_env(env_id, 1, env_kwargs=env_kwargs)
        try:
            return load_policy(path, env, algo=algo, hyperparams=hyperparams, device=device)
        finally:
            env.close()
