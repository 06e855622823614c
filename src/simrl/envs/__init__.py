"""Gymnasium ids for every simrl environment, and the one public way to vectorize them."""

import warnings

from gymnasium.envs.registration import register, registry

from simrl.envs.mujoco import select_gl
from simrl.envs.vec import make_vec_env, param_space

select_gl()  # before anything imports mujoco: EGL on a machine without a display

if "simrl/Pendulum-v0" not in registry:
    register(
        id="simrl/Pendulum-v0",
        entry_point="simrl.envs.pendulum:ParametricPendulum",
        max_episode_steps=200,
    )

# The pymunk tasks: 50 control steps per second, so 500 steps are 10 s.
for _id, _entry in (
    ("simrl/CartPole-v0", "simrl.envs.planar.cartpole:PlanarCartPole"),
    ("simrl/BipedStand-v0", "simrl.envs.planar.biped:BipedStand"),
    ("simrl/BipedStand-v1", "simrl.envs.planar.biped:BipedStandV1"),
    ("simrl/BallBalance-v0", "simrl.envs.planar.ballbot:BallBalance"),
    ("simrl/BallBalance-v1", "simrl.envs.planar.ballbot:BallBalanceV1"),
):
    if _id not in registry:
        register(id=_id, entry_point=_entry, max_episode_steps=500)

# An older version of a simrl task stays registered so that its runs resume and evaluate as they were;
# Gymnasium's "is out of date" notice on every make of it would only repeat the README.
warnings.filterwarnings("ignore", message=r".*environment simrl/.* is out of date", category=DeprecationWarning)

# CS285's obstacle course; its homework ran 100-step episodes.
if "simrl/Obstacles-v0" not in registry:
    register(id="simrl/Obstacles-v0", entry_point="simrl.envs.obstacles:Obstacles", max_episode_steps=100)

__all__ = ["make_vec_env", "param_space"]
