"""Every preset block in src/simrl/configs resolves and its values pass the constructor checks."""

from __future__ import annotations

import pytest
import yaml

from simrl.errors import ConfigError
from simrl.experiments import config as cfg
from simrl.experiments.hyperparams import preset_path
from simrl.rl.algos import ALGOS, build_kwargs

# Keys of the zoo's presets whose support is being added on other branches: until it lands, a block that
# holds one is refused by the key check, and the test says so rather than failing.
PENDING = ("normalize", "vec_env")


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
    try:
        c = cfg.resolve(algo, env_id, seed=0)
    except ConfigError as e:
        pending = [key for key in PENDING if f"'{key}'" in str(e)]
        if pending:
            pytest.skip(f"{algo} {env_id}: '{pending[0]}' is not supported yet")
        raise
    assert c.timesteps > 0
    build_kwargs(algo, c.hyperparams, n_actions=2)
