"""``make_vec_env``: the batched pendulum for simrl/Pendulum-v0, SB3's vec envs for anything else."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from simrl.envs.mujoco import MujocoParams, bodies, render_kwargs, route_warnings, task_name
from simrl.envs.mujoco import param_space as mujoco_space
from simrl.envs.params import FixedSampler, ParamSpace, make_sampler
from simrl.errors import EnvError

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of ``env_id``, or an EnvError listing what exists.

    ``module:EnvId`` imports ``module`` first (Gymnasium's ``make`` convention), so an env a user's own package
    registers works in every process, a sweep's workers and a Ray cluster's included.
    """
    # No import of simrl.envs for the ids: Python runs its __init__ (which registers them) before this submodule.
    module, sep, name = env_id.rpartition(":")
    if sep:
        import importlib

        try:
            importlib.import_module(module)
        except ImportError as e:
            raise EnvError(f"environment '{env_id}': cannot import module '{module}' ({e})") from None
    try:
        return gym.spec(name if sep else env_id)
    except gym.error.Error:
        # Gymnasium's own message is multi-line; ours names the fix.
        simrl_ids = sorted(k for k in gym.registry if k.startswith("simrl/"))
        raise EnvError(
            f"unknown environment '{env_id}'", f"simrl ids: {', '.join(simrl_ids)}; see 'simrl envs'"
        ) from None


def env_class(env_id: str) -> type | None:
    spec = env_spec(env_id)
    if callable(spec.entry_point):
        return spec.entry_point if isinstance(spec.entry_point, type) else None
    try:
        from gymnasium.envs.registration import load_env_creator

        return load_env_creator(spec.entry_point)
    except Exception:  # an env whose module needs an extra that is not installed
        return None


def batched_class(env_id: str) -> type | None:
    """The env's own batched ``VecEnv`` class, if its class declares one (``VECTOR_ENTRY_POINT``).

    A batched env steps all its copies in one call and takes ``(num_envs, sampler=, render_mode=,
    max_episode_steps=)``, ``set_params`` and ``set_state``/``state`` (the robustness grid and
    BayesSim's simulations place its copies directly).
    """
    entry = getattr(env_class(env_id), "VECTOR_ENTRY_POINT", None)
    if not isinstance(entry, str):
        return None
    from gymnasium.envs.registration import load_env_creator

    return load_env_creator(entry)


def param_space(env_id: str) -> ParamSpace:
    """The simulator parameters of ``env_id`` (empty for envs without any)."""
    cls = env_class(env_id)
    space = getattr(cls, "PARAM_SPACE", None)
    if isinstance(space, ParamSpace):
        return space
    return mujoco_space(env_id) or ParamSpace((), env_id)


def make_env(
    env_id: str,
    params: Mapping[str, float] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """One ``env_id`` with simulator parameters ``params`` (defaults for the rest) and constructor ``env_kwargs``.

    The one way simrl builds a single env: a parametric simrl env takes its parameters in its
    constructor; a Gymnasium MuJoCo task gets them from the :class:`simrl.envs.mujoco.MujocoParams`
    wrapper, which sets them on the compiled model. Either way ``set_params`` is reachable with
    ``env.get_wrapper_attr("set_params")`` (what ``DomainRandomization`` calls).

    Raises:
        EnvError: an unknown id or parameter, a value out of bounds.
    """
    space = param_space(env_id)
    kwargs: dict[str, Any] = {} if render_mode is None else {"render_mode": render_mode}
    values = space.make(params) if len(space) else None
    if params and values is None:
        raise EnvError(f"{env_id} has no simulator parameters", "see 'simrl envs' for parametric envs")
    if task_name(env_id) is None:
        kwargs.update(dict(values or {}))
        kwargs.update(env_kwargs or {})
        return gym.make(env_id, **kwargs)
    kwargs.update(env_kwargs or {})
    if render_mode is not None:
        kwargs.update(render_kwargs(env_id, kwargs))
    route_warnings()
    env = gym.make(env_id, **kwargs)
    try:
        return MujocoParams(env, space, bodies(env_id), values)
    except BaseException:
        env.close()
        raise


# ``gymnasium.make``'s own argument: the episode limit (TimeLimit), accepted beside the constructor's.
MAX_EPISODE_STEPS = "max_episode_steps"


def check_env_kwarg_names(env_id: str, kwargs: Mapping[str, Any]) -> None:
    """The cheap half of :func:`check_env_kwargs`: the names only (refused ones, unknown ones); nothing is built."""
    import difflib
    import inspect

    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise EnvError(f"env kwargs for {env_id} must be a mapping of names to values, got {kwargs!r}")
    space = param_space(env_id)
    for key in kwargs:
        if key == "render_mode":
            raise EnvError("env kwarg 'render_mode' is set by simrl", "rgb_array for 'simrl record', none otherwise")
        if key in space.names:
            raise EnvError(
                f"'{key}' is a simulator parameter of {env_id}, not an env kwarg", f"use --env-param {key}=VALUE"
            )
    steps = kwargs.get(MAX_EPISODE_STEPS)
    if MAX_EPISODE_STEPS in kwargs and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise EnvError(f"env kwarg {MAX_EPISODE_STEPS} must be a positive integer, got {steps!r}")
    kwargs = {k: v for k, v in kwargs.items() if k != MAX_EPISODE_STEPS}
    cls = env_class(env_id)
    try:
        sig = inspect.signature(cls) if cls is not None else None
    except (TypeError, ValueError):  # a constructor inspect cannot read: let the build decide
        sig = None
    # ``**kwargs`` is for the env's parameters alone when the class declares them (the planar tasks
    # take them that way); otherwise it goes to the base class, whose constructor names the rest
    # (Gymnasium's MuJoCo tasks pass width, height, camera_name, ... to MujocoEnv).
    names = _constructor_names(cls, sig) if sig is not None else None
    if names is None and isinstance(getattr(cls, "PARAM_SPACE", None), ParamSpace):
        names = [n for n, p in sig.parameters.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    if names is None:  # a **kwargs that may take anything: let the build decide
        return
    accepted = [name for name in names if name != "render_mode" and name not in space.names] + [MAX_EPISODE_STEPS]
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            mean = f"did you mean '{close[0]}'? " if close else ""
            takes = f"{env_id} takes: {', '.join(accepted)}" if accepted else f"{env_id} takes none"
            raise EnvError(f"unknown env kwarg '{key}' for {env_id}", mean + takes)


def _constructor_names(cls: type, sig: Any) -> list[str] | None:
    """Keyword names ``cls(...)`` accepts, following ``**kwargs`` up the base classes; None if open-ended."""
    import inspect

    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        if klass is object or klass is gym.Env:
            return None
        try:
            params = inspect.signature(klass.__init__).parameters if klass is not cls else sig.parameters
        except (TypeError, ValueError):
            return None
        # A base class's arguments without a default are the ones the subclass passes itself.
        names += [
            n
            for n, p in params.items()
            if p.kind in keyword
            and n != "self"
            and n not in names
            and (klass is cls or p.default is not inspect.Parameter.empty)
        ]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return names
    return None


def check_env_kwargs(env_id: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Check constructor keyword arguments ("env kwargs", e.g. ``reward="alive"``) for ``env_id``.

    The names are checked against the env class's constructor (anything goes when it takes
    ``**kwargs``); ``render_mode`` and simulator parameters (``--env-param``) are refused. Then the
    env is built, reset and stepped once, so that a bad value fails now rather than in the middle of
    a run (an env that only stores a value, like Pendulum-v1's ``g``, uses it at its first step).

    Returns:
        The kwargs, as a plain dict.

    Raises:
        EnvError: an unknown id or name, a refused name, a value the constructor rejects.
    """
    check_env_kwarg_names(env_id, kwargs)
    kwargs = dict(kwargs)
    if not kwargs:
        return kwargs
    env = None
    try:
        env = make_env(env_id, None, kwargs)
        env.reset(seed=0)
        env.action_space.seed(0)
        env.step(env.action_space.sample())
    except EnvError:
        raise
    except Exception as e:  # whatever the constructor or first step raises for a value it cannot take
        first = (str(e).strip().splitlines() or [""])[0]
        shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise EnvError(f"bad env kwarg {shown} for {env_id} ({type(e).__name__}: {first})") from None
    finally:
        if env is not None:
            env.close()
    return kwargs


def make_render_env(
    env_id: str, params: Mapping[str, float] | None = None, env_kwargs: Mapping[str, Any] | None = None
) -> gym.Env:
    """``gymnasium.make(env_id, render_mode="rgb_array", **params, **env_kwargs)``, for videos and play.

    Raises:
        EnvError: an unknown id, parameter or env kwarg name; an env without rgb_array rendering.
    """
    env_spec(env_id)  # an EnvError for unknown ids
    space = param_space(env_id)
    if params and not len(space):
        raise EnvError(f"{env_id} has no simulator parameters", "see 'simrl envs' for parametric envs")
    space.make(params)  # names and bounds, before anything is built
    if env_kwargs:
        check_env_kwarg_names(env_id, env_kwargs)  # refuses render_mode and parameter names
    metadata = getattr(env_class(env_id), "metadata", None)
    modes = metadata.get("render_modes") if isinstance(metadata, Mapping) else None
    if modes is not None and "rgb_array" not in modes:
        # Gymnasium only warns and makes the env anyway; fail before any work is done.
        raise EnvError(f"{env_id} cannot render rgb_array frames", f"its render modes: {', '.join(modes) or 'none'}")
    try:
        return make_env(env_id, params, env_kwargs, render_mode="rgb_array")
    except TypeError as e:
        if "render_mode" not in str(e):
            raise
        raise EnvError(f"{env_id} cannot render rgb_array frames", "its constructor takes no render_mode") from None


def make_vec_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    params: Mapping[str, float] | None = None,
    randomize: Mapping[str, tuple[float, float]] | None = None,
    subprocess: bool = False,
    render_mode: str | None = None,
    samples: tuple[tuple[str, ...], np.ndarray] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> VecEnv:
    """A vectorized ``env_id`` with ``n_envs`` copies.

    Args:
        env_id: a registered Gymnasium id (``simrl envs`` lists simrl's).
        n_envs: number of parallel environments.
        seed: seeds the next reset (env ``i`` gets ``seed + i`` for SB3's vec envs).
        params: fixed simulator parameters by name; the others keep their defaults.
        randomize: name -> (low, high); each episode draws these uniformly.
        subprocess: use SubprocVecEnv instead of DummyVecEnv (ignored for batched envs).
        render_mode: passed to the env (``rgb_array`` for videos).
        samples: (names, (n, d) array): each episode draws one row (e.g. BayesSim posterior samples).
        env_kwargs: further constructor arguments (``reward="alive"``); values are checked by
            :func:`check_env_kwargs`, names here. The batched pendulum takes none.

    Returns:
        The env's own batched implementation where its class declares one (simrl/Pendulum-v0's
        ``BatchedPendulum``: all copies stepped in one numpy call, see :func:`batched_class`), an SB3
        ``DummyVecEnv``/``SubprocVecEnv`` otherwise.

    Raises:
        EnvError: unknown id, unknown parameter, value out of bounds, low > high, an env kwarg
            the env does not take.
    """
    if n_envs < 1:
        raise EnvError(f"n_envs must be at least 1, got {n_envs}")
    spec = env_spec(env_id)
    space = param_space(env_id)
    if (params or randomize or samples) and not len(space):
        raise EnvError(f"{env_id} has no simulator parameters", "see 'simrl envs' for parametric envs")
    sampler = make_sampler(space, params, randomize, samples)
    env_kwargs = dict(env_kwargs or {})
    check_env_kwarg_names(env_id, env_kwargs)

    batched = batched_class(env_id)
    if batched is not None:
        limit = env_kwargs.pop(MAX_EPISODE_STEPS, None) or spec.max_episode_steps or 200
        if env_kwargs:  # the batch would drop them: only its single env's constructor could take any
            raise EnvError(f"{env_id} takes no env kwargs", "its simulator parameters are set with --env-param")
        venv = batched(n_envs, sampler=sampler, render_mode=render_mode, max_episode_steps=limit)
    else:
        venv = _sb3_vec_env(env_id, n_envs, space, params, sampler, subprocess, render_mode, env_kwargs)
    if seed is not None:
        venv.seed(seed)
    return venv


def _sb3_vec_env(env_id, n_envs, space, params, sampler, subprocess, render_mode, env_kwargs) -> VecEnv:
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from simrl.envs.wrappers import DomainRandomization

    def factory() -> Callable[[], gym.Env]:
        def make() -> gym.Env:
            env = make_env(env_id, params, env_kwargs, render_mode)
            if not isinstance(sampler, FixedSampler):
                env = DomainRandomization(env, sampler)
            return env

        return make

    cls = SubprocVecEnv if subprocess and n_envs > 1 else DummyVecEnv
    return cls([factory() for _ in range(n_envs)])
