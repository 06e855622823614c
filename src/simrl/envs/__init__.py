"""Gymnasium ids for every simrl environment, and the one public way to vectorize them."""

from gymnasium.envs.registration import register, registry

if "simrl/Pendulum-v0" not in registry:
    register(
        id="simrl/Pendulum-v0",
        entry_point="simrl.envs.pendulum:ParametricPendulum",
        max_episode_steps=200,
    )

from simrl.envs.vec import make_vec_env, param_space

__all__ = ["make_vec_env", "param_space"]
