"""Simulator parameters for Gymnasium's MuJoCo tasks: scale factors on the compiled model.

Gymnasium's MuJoCo envs take no physical parameters in their constructors (only ``xml_file``), so
simrl changes the compiled ``MjModel`` in place: :class:`MujocoParams` keeps the nominal arrays and
sets every field from them, so the same parameters always give the same model whatever came before.
Every parameter is a scale factor (1 = the task as published):

- ``mass_scale``: every body's mass and rotational inertia;
- ``friction_scale``: every geom's sliding friction (the tangential coefficient);
- ``gear_scale``: every actuator's gear, i.e. the torque an action of 1 produces;
- ``gravity_scale``: gravity;
- ``damping_scale``: every joint's damping;
- per task, the bodies that matter on their own (``torso_mass_scale``, the pendulum's
  ``pole_mass_scale`` and ``cart_mass_scale``), applied on top of ``mass_scale``.

A task lists only parameters that act on it (Reacher moves in the horizontal plane, so gravity and
friction do nothing there and it has neither). The table is keyed by the id's name without its
version (``HalfCheetah`` for HalfCheetah-v5 and -v4), for ids whose entry point is Gymnasium's
MuJoCo package; the bodies are looked up by name when the env is built.

Nothing here imports ``mujoco``: the model arrays are numpy views, so this module costs nothing to
import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from simrl.envs.params import Param, Params, ParamSpace
from simrl.errors import EnvError

_SCALE = "x"

_COMMON = {
    "mass_scale": Param("mass_scale", 1.0, 0.5, 2.0, _SCALE, "every body's mass and inertia"),
    "friction_scale": Param("friction_scale", 1.0, 0.25, 2.0, _SCALE, "every geom's sliding friction"),
    "gear_scale": Param("gear_scale", 1.0, 0.5, 1.5, _SCALE, "every actuator's gear (torque per unit action)"),
    "gravity_scale": Param("gravity_scale", 1.0, 0.5, 1.5, _SCALE, "gravity"),
    "damping_scale": Param("damping_scale", 1.0, 0.5, 2.0, _SCALE, "every joint's damping"),
}


def _body(name: str, body: str, what: str) -> tuple[Param, str]:
    return Param(name, 1.0, 0.5, 2.0, _SCALE, f"the {what}'s mass and inertia, on top of mass_scale"), body


_LOCOMOTION = ("mass_scale", "friction_scale", "gear_scale", "gravity_scale", "damping_scale")

# name -> (common parameters, ((per-body parameter, body name), ...))
_TASKS: dict[str, tuple[tuple[str, ...], tuple[tuple[Param, str], ...]]] = {
    "HalfCheetah": (_LOCOMOTION, (_body("torso_mass_scale", "torso", "torso"),)),
    "Hopper": (_LOCOMOTION, (_body("torso_mass_scale", "torso", "torso"),)),
    "Walker2d": (_LOCOMOTION, (_body("torso_mass_scale", "torso", "torso"),)),
    "Ant": (_LOCOMOTION, (_body("torso_mass_scale", "torso", "torso"),)),
    "Reacher": (("mass_scale", "gear_scale", "damping_scale"), ()),
    "InvertedPendulum": (
        ("gear_scale", "gravity_scale", "damping_scale"),
        (_body("pole_mass_scale", "pole", "pole"), _body("cart_mass_scale", "cart", "cart")),
    ),
}


# The ids ``simrl envs`` lists (any version of these tasks takes the parameters).
MUJOCO_IDS = ("Hopper-v5", "HalfCheetah-v5", "Ant-v5", "Walker2d-v5", "Reacher-v5", "InvertedPendulum-v5")


# Tasks whose default view in Gymnasium 1.4 is a fixed free camera, which the body soon leaves: their
# models' own "track" camera follows it (what Gymnasium's renderer used before 1.4).
_TRACK_CAMERA = frozenset({"HalfCheetah", "Ant"})


def render_kwargs(env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Camera arguments a rendering MuJoCo env needs so that the view follows the body (none if the user chose)."""
    if task_name(env_id) not in _TRACK_CAMERA or {"camera_id", "camera_name"} & set(env_kwargs):
        return {}
    return {"camera_name": "track"}


def task_name(env_id: str) -> str | None:
    """The table's key for ``env_id`` (``HalfCheetah`` for ``HalfCheetah-v5``), or None if it has no parameters here."""
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return None
    entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
    if not entry.startswith("gymnasium.envs.mujoco") or spec.name not in _TASKS:
        return None
    return spec.name


def param_space(env_id: str) -> ParamSpace | None:
    """The parameter set of a Gymnasium MuJoCo id, or None if simrl has none for it."""
    name = task_name(env_id)
    if name is None:
        return None
    common, bodies = _TASKS[name]
    return ParamSpace(tuple(_COMMON[n] for n in common) + tuple(p for p, _ in bodies), env_id)


def bodies(env_id: str) -> dict[str, str]:
    """Per-body parameter name -> body name, for ``env_id``."""
    name = task_name(env_id)
    return {p.name: body for p, body in _TASKS[name][1]} if name else {}


class MujocoParams(gym.Wrapper):
    """Set a MuJoCo env's physical parameters (scale factors) on its compiled model.

    ``set_params`` acts at once (the next ``step`` uses it); ``DomainRandomization`` calls it
    before each reset. The nominal model is read when the wrapper is built, so the env must not have
    been changed before.
    """

    def __init__(self, env: gym.Env, space: ParamSpace, body_names: Mapping[str, str], params: Params) -> None:
        super().__init__(env)
        model = env.unwrapped.model
        self.space = space
        self._nominal = {
            "body_mass": model.body_mass.copy(),
            "body_inertia": model.body_inertia.copy(),
            "geom_friction": model.geom_friction[:, 0].copy(),
            "actuator_gear": model.actuator_gear[:, 0].copy(),
            "gravity": model.opt.gravity.copy(),
            "dof_damping": model.dof_damping.copy(),
        }
        names = [model.body(i).name for i in range(model.nbody)]
        self._bodies: dict[str, int] = {}
        for param, body in body_names.items():
            if body not in names:  # a changed xml_file: say which body is missing rather than fail later
                raise EnvError(f"'{param}' needs a body named '{body}', which this model lacks", ", ".join(names))
            self._bodies[param] = names.index(body)
        self.params = params
        self.set_params(params)

    def set_params(self, values: Mapping[str, float] | Sequence[float] | np.ndarray) -> Params:
        """Set the parameters (a mapping by name, missing ones at their defaults, or a full vector)."""
        params = self.space.make(values) if isinstance(values, Mapping) else self.space.from_vector(values)
        model, nominal = self.env.unwrapped.model, self._nominal
        get = {name: params[name] for name in params}.get
        mass = np.full(model.nbody, get("mass_scale", 1.0))
        for param, body in self._bodies.items():
            mass[body] *= params[param]
        model.body_mass[:] = nominal["body_mass"] * mass
        model.body_inertia[:] = nominal["body_inertia"] * mass[:, None]
        model.geom_friction[:, 0] = nominal["geom_friction"] * get("friction_scale", 1.0)
        model.actuator_gear[:, 0] = nominal["actuator_gear"] * get("gear_scale", 1.0)
        model.opt.gravity[:] = nominal["gravity"] * get("gravity_scale", 1.0)
        model.dof_damping[:] = nominal["dof_damping"] * get("damping_scale", 1.0)
        self.params = params
        return params

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        info["params"] = self.params.vector
        return obs, info


_QUIET = False
# Gymnasium's own model files still use this compiler attribute; the user can do nothing about it.
_GYMNASIUM_NOISE = ("compiler attribute 'settotalmass' is deprecated",)


def route_warnings() -> None:
    """Send MuJoCo's warnings to Python's ``warnings`` instead of stdout and a MUJOCO_LOG.TXT in the
    current folder (MuJoCo's default, which would change the user's folder and corrupt ``--json``)."""
    global _QUIET
    if _QUIET:
        return
    import warnings

    import mujoco

    def warn(message: str) -> None:
        if not any(noise in message for noise in _GYMNASIUM_NOISE):
            warnings.warn(f"MuJoCo: {message.strip()}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(warn)
    _QUIET = True


def select_gl() -> None:
    """Pick MuJoCo's OpenGL back end when the user has not: EGL on a Linux machine without a display.

    MuJoCo reads ``MUJOCO_GL`` when it is first imported, so this runs when ``simrl.envs`` is
    imported. With a display (``DISPLAY`` or ``WAYLAND_DISPLAY``) MuJoCo's own default (GLFW) stays,
    which the human render mode (``simrl watch``) needs.
    """
    if "MUJOCO_GL" in os.environ or not sys.platform.startswith("linux"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    os.environ["MUJOCO_GL"] = "egl"
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
