"""Every preset block in src/simrl/configs resolves and its values pass the constructor checks."""

from __future__ import annotations

import pytest
import yaml

from simrl.experiments import config as cfg
from simrl.experiments.hyperparams import preset_path
from simrl.rl.algos import ALGOS, build_kwargs


def _blocks() -> list[tuple[str, str]]:
    out = []
    for algo in ALGOS:
        path = preset_path(algo)
        if path.is_file():
            out += [(algo, env_id) for env_id in yaml.safe_load(path.read_text()) if env_id != "default"]
    return out


def test_the_mujoco_presets_are_there():
    ids = {"HalfCheetah-v5", "Hopper-v5", "Ant-v5", "Walker2d-v5", "Reacher-v5", "InvertedPendulum-v5"}
    blocks = set(_blocks())
    for algo in ("sac", "td3", "tqc", "ppo", "crossq"):
        assert {(algo, env_id) for env_id in ids} <= blocks


@pytest.mark.parametrize(("algo", "env_id"), _blocks())
def test_every_preset_resolves(algo, env_id):
    c = cfg.resolve(algo, env_id, seed=0)
    assert c.timesteps > 0
    build_kwargs(algo, c.hyperparams, n_actions=2)
