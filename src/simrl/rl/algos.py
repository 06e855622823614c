"""Algorithms by name, and YAML hyper-parameters turned into SB3 constructor arguments.

Presets follow rl-zoo's layout but hold only plain YAML: schedules are written ``lin_3e-4``,
activations, optimizers and feature extractors by name (``activation_fn: tanh``, ``optimizer_class:
rmsprop``), action noise as ``noise_type``/``noise_std``; nothing is ``eval``-ed.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch.nn as nn

from simrl.errors import ConfigError

# The action spaces SB3's algorithms accept (their ``supported_action_spaces``).
ALL_SPACES = ("Box", "Discrete", "MultiDiscrete", "MultiBinary")


@dataclass(frozen=True)
class Algo:
    name: str
    module: str
    cls: str
    off_policy: bool

    @property
    def action_spaces(self) -> tuple[str, ...]:
        return ("Box",) if self.off_policy else ALL_SPACES


ALGOS: dict[str, Algo] = {
    a.name: a
    for a in (
        Algo("ppo", "stable_baselines3", "PPO", off_policy=False),
        Algo("a2c", "stable_baselines3", "A2C", off_policy=False),
        Algo("sac", "stable_baselines3", "SAC", off_policy=True),
        Algo("td3", "stable_baselines3", "TD3", off_policy=True),
        Algo("tqc", "sb3_contrib", "TQC", off_policy=True),
        Algo("crossq", "sb3_contrib", "CrossQ", off_policy=True),
    )
}

# rl-zoo keys that are not constructor arguments; the run, the trainer (normalize) or build_kwargs consumes them.
ZOO_KEYS = frozenset({"n_timesteps", "n_envs", "vec_env", "policy", "noise_type", "noise_std", "normalize"})
# The VecNormalize arguments a ``normalize`` mapping may set, with the kind of value each takes.
NORMALIZE_KEYS: dict[str, type] = {
    "norm_obs": bool,
    "norm_reward": bool,
    "clip_obs": float,
    "clip_reward": float,
    "gamma": float,
    "epsilon": float,
}
# Constructor arguments the run owns: setting them in a preset would be silently ignored.
# ``action_noise`` and ``replay_buffer_class`` are objects, not YAML: use noise_type/noise_std instead.
RESERVED = frozenset(
    {
        "self",
        "policy",
        "env",
        "tensorboard_log",
        "verbose",
        "seed",
        "device",
        "_init_setup_model",
        "action_noise",
        "replay_buffer_class",
    }
)
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "selu": nn.SELU,
    "mish": nn.Mish,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
}
# The classes a policy_kwargs key may name in plain YAML (``activation_fn: relu``), each by the path
# (``module.qualname``) a pickle names it with: model files from plain SB3 are read back through this
# table (rl/sb3_fields.py), and nothing outside it. Paths: SB3 is imported only when a model is built.
POLICY_CLASSES: dict[str, dict[str, str]] = {
    "activation_fn": {name: f"{cls.__module__}.{cls.__qualname__}" for name, cls in ACTIVATIONS.items()},
    "optimizer_class": {
        "adam": "torch.optim.adam.Adam",
        "adamw": "torch.optim.adamw.AdamW",
        "rmsprop": "torch.optim.rmsprop.RMSprop",
        "sgd": "torch.optim.sgd.SGD",
        "rmsprop_tf_like": "stable_baselines3.common.sb2_compat.rmsprop_tf_like.RMSpropTFLike",
    },
    "features_extractor_class": {
        "flatten": "stable_baselines3.common.torch_layers.FlattenExtractor",
        "nature_cnn": "stable_baselines3.common.torch_layers.NatureCNN",
        "combined": "stable_baselines3.common.torch_layers.CombinedExtractor",
    },
}


def get_algo(name: str) -> Algo:
    try:
        return ALGOS[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown algorithm '{name}'", f"choose one of: {', '.join(ALGOS)}") from None


class _GlobalProgress:
    """Makes schedules see progress over the whole run, not over the current ``learn`` segment.

    simrl trains in segments (one ``learn`` call per checkpoint); SB3 computes progress from the
    current call's target, which would restart a linear learning-rate schedule at every segment.
    """

    run_total_timesteps: int = 0

    def _update_current_progress_remaining(self, num_timesteps: int, total_timesteps: int) -> None:
        total = self.run_total_timesteps or total_timesteps
        super()._update_current_progress_remaining(num_timesteps, total)  # type: ignore[misc]


@functools.cache
def algo_class(name: str) -> type:
    """The SB3 class for ``name``, with run-wide schedule progress. Its saves load with the plain class."""
    algo = get_algo(name)
    base = getattr(importlib.import_module(algo.module), algo.cls)
    return type(algo.cls, (_GlobalProgress, base), {"__module__": __name__})


@functools.cache
def constructor_keys(name: str) -> frozenset[str]:
    """Hyper-parameters a preset may set for ``name``: its constructor's arguments and the zoo keys."""
    cls = algo_class(name).__mro__[2]
    return frozenset(inspect.signature(cls.__init__).parameters) - RESERVED | ZOO_KEYS


def check_keys(name: str, hyperparams: dict[str, Any], origin: str) -> None:
    import difflib

    allowed = constructor_keys(name)
    for key in hyperparams:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(sorted(allowed))}"
            raise ConfigError(f"unknown hyper-parameter '{key}' for {name} (from {origin})", hint)


def check_types(name: str, hyperparams: dict[str, Any]) -> dict[str, Any]:
    """Reject values whose type cannot be what the constructor's default and annotation allow.

    Returns the hyper-parameters with integral floats (``buffer_size: 1e6``) made ints where an int is due.

    SB3 stores most arguments unchecked and fails deep inside ``learn``; catching ``batch_size: abc``
    here keeps the mistake a one-line error before anything is written.
    """
    params = inspect.signature(algo_class(name).__mro__[2].__init__).parameters
    out = dict(hyperparams)
    for key, value in hyperparams.items():
        if key not in params or value is None:
            continue
        default, note = params[key].default, str(params[key].annotation)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int) and "tuple" not in note:
            if isinstance(value, float) and value.is_integer():
                value = out[key] = int(value)
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float) and "str" not in note and "Schedule" not in note and "Callable" not in note:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        else:
            continue
        if not ok:
            kind = {bool: "true or false", int: "an integer", float: "a number"}[type(default)]
            raise ConfigError(f"hyper-parameter '{key}' must be {kind}, got '{value}'")
    return out


# Valid values of numeric hyper-parameters: (low, high, low included, high included). SB3 checks few of
# them and trains on with NaN losses (batch_size 0) or a silently meaningless run (gamma 2).
RANGES: dict[str, tuple[float, float, bool, bool]] = {
    "learning_rate": (0.0, math.inf, False, False),
    "batch_size": (1, math.inf, True, False),
    "buffer_size": (1, math.inf, True, False),
    "n_steps": (1, math.inf, True, False),
    "n_epochs": (1, math.inf, True, False),
    "learning_starts": (0, math.inf, True, False),
    "gamma": (0.0, 1.0, True, True),
    "gae_lambda": (0.0, 1.0, True, True),
    "tau": (0.0, 1.0, False, True),
    "clip_range": (0.0, math.inf, False, False),
    "clip_range_vf": (0.0, math.inf, False, False),
    "vf_coef": (0.0, math.inf, True, False),
    "max_grad_norm": (0.0, math.inf, False, False),
    "policy_delay": (1, math.inf, True, False),
    "target_policy_noise": (0.0, math.inf, True, False),
    "target_noise_clip": (0.0, math.inf, True, False),
    "target_update_interval": (1, math.inf, True, False),
    "top_quantiles_to_drop_per_net": (0, math.inf, True, False),
    "target_kl": (0.0, math.inf, False, False),
    "noise_std": (0.0, math.inf, True, False),
    "rms_prop_eps": (0.0, math.inf, False, False),
    "normalize.clip_obs": (0.0, math.inf, False, False),
    "normalize.clip_reward": (0.0, math.inf, False, False),
    "normalize.gamma": (0.0, 1.0, True, True),
    "normalize.epsilon": (0.0, math.inf, False, False),
}


def check_ranges(hyperparams: dict[str, Any]) -> None:
    """Reject numbers outside their valid range (``gamma: 2``, ``batch_size: 0``) and layer widths below 1.

    Raises:
        ConfigError: naming the key, the value and the range.
    """
    for key, value in hyperparams.items():
        if key in RANGES and isinstance(value, int | float) and not isinstance(value, bool):
            lo, hi, lo_in, hi_in = RANGES[key]
            ok = (lo <= value if lo_in else lo < value) and (value <= hi if hi_in else value < hi)
            if not ok or not math.isfinite(value):
                low, high = "[" if lo_in else "(", "]" if hi_in else ")"
                span = f"{low}{lo:g}, {'inf' if math.isinf(hi) else f'{hi:g}'}{high}"
                raise ConfigError(f"hyper-parameter '{key}' must lie in {span}, got {value:g}")
        if key in ("learning_rate", "clip_range") and isinstance(value, str) and value.startswith("lin_"):
            with contextlib.suppress(ValueError):
                if not float(value[4:]) > 0:
                    raise ConfigError(f"hyper-parameter '{key}' must start above 0, got '{value}'")
    steps = hyperparams.get("gradient_steps")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps < 1 and steps != -1:
        raise ConfigError(f"hyper-parameter 'gradient_steps' must be at least 1 (or -1), got {steps}")
    freq = hyperparams.get("train_freq")
    first = freq[0] if isinstance(freq, list | tuple) and freq else freq
    if isinstance(first, int) and not isinstance(first, bool) and first < 1:
        raise ConfigError(f"hyper-parameter 'train_freq' must be at least 1, got {freq}")
    policy_kwargs = hyperparams.get("policy_kwargs")
    if isinstance(policy_kwargs, dict) and "net_arch" in policy_kwargs:
        _check_net_arch(policy_kwargs["net_arch"])


def normalize_kwargs(name: str, hyperparams: dict[str, Any]) -> dict[str, Any] | None:
    """rl-zoo's ``normalize`` key as ``VecNormalize`` keyword arguments, or None when it is off.

    ``true`` takes VecNormalize's defaults; a mapping sets some of :data:`NORMALIZE_KEYS`. Unless the
    mapping gives ``gamma``, the return is discounted with the algorithm's own gamma (as rl-zoo does).

    Raises:
        ConfigError: a value that is neither a bool nor a mapping; an unknown key, a wrong type or a
            number out of range inside the mapping (named ``normalize.<key>``).
    """
    value = hyperparams.get("normalize", False)
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    keys = ", ".join(NORMALIZE_KEYS)
    if not isinstance(value, dict):
        raise ConfigError(
            f"hyper-parameter 'normalize' must be true, false or a mapping, got '{value}'", f"keys: {keys}"
        )
    out: dict[str, Any] = {}
    for key, v in value.items():
        kind = NORMALIZE_KEYS.get(key)
        if kind is None:
            raise ConfigError(f"unknown hyper-parameter 'normalize.{key}'", f"known: {keys}")
        is_number = isinstance(v, int | float) and not isinstance(v, bool)
        if not (isinstance(v, bool) if kind is bool else is_number):
            want = "true or false" if kind is bool else "a number"
            raise ConfigError(f"hyper-parameter 'normalize.{key}' must be {want}, got '{v}'")
        out[key] = v if kind is bool else float(v)
    check_ranges({f"normalize.{k}": v for k, v in out.items()})
    if "gamma" not in out:
        own = check_types(name, {"gamma": hyperparams["gamma"]}) if "gamma" in hyperparams else {}
        check_ranges(own)
        default = inspect.signature(algo_class(name).__mro__[2].__init__).parameters["gamma"].default
        out["gamma"] = float(own.get("gamma", default))
    return out


def _check_net_arch(arch: Any) -> None:
    """``[64, 64]`` or ``{pi: [...], vf|qf: [...]}``, every width a positive integer."""
    layers = arch.values() if isinstance(arch, dict) else [arch]
    for widths in layers:
        if not isinstance(widths, list) or not all(
            isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths
        ):
            raise ConfigError(
                f"policy_kwargs.net_arch must list layer widths of at least 1, got {arch}",
                "e.g. [64, 64] or {pi: [64, 64], qf: [256, 256]}",
            )


def _schedule(key: str, value: Any) -> Any:
    from stable_baselines3.common.utils import LinearSchedule

    if isinstance(value, str):
        if value.startswith("lin_"):
            try:
                start = float(value[4:])
            except ValueError:
                raise ConfigError(f"'{key}: {value}' is not a schedule", "write lin_<number>") from None
            return LinearSchedule(start, 0.0, 1.0)
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"'{key}: {value}' is not a number or lin_<number>") from None
    return value


def _policy_kwargs(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"policy_kwargs must be a mapping, got '{value}'")
    out = dict(value)
    for key, paths in POLICY_CLASSES.items():
        name = out.get(key)
        if name is None:
            continue
        if str(name).lower() not in paths:
            raise ConfigError(f"unknown {key} '{name}'", f"choose one of: {', '.join(paths)}")
        out[key] = resolve_class(paths[str(name).lower()])
    return out


@functools.cache
def resolve_class(path: str) -> type:
    """The class at ``module.qualname`` (a path from :data:`POLICY_CLASSES`)."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def build_kwargs(name: str, hyperparams: dict[str, Any], n_actions: int) -> dict[str, Any]:
    """Constructor keyword arguments for ``name`` from plain hyper-parameters (zoo keys removed)."""
    check_keys(name, hyperparams, "the resolved configuration")
    checked = check_types(name, hyperparams)
    check_ranges(checked)
    normalize_kwargs(name, checked)  # checked here so that every model built validates it
    kwargs = {k: v for k, v in checked.items() if k not in ZOO_KEYS}
    for key in ("learning_rate", "clip_range", "clip_range_vf"):
        if key in kwargs and kwargs[key] is not None:
            kwargs[key] = _schedule(key, kwargs[key])
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = _policy_kwargs(kwargs["policy_kwargs"])
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    noise_type = hyperparams.get("noise_type")
    if noise_type is not None:
        from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

        std = float(hyperparams.get("noise_std", 0.1)) * np.ones(n_actions)
        kinds = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}
        if noise_type not in kinds:
            raise ConfigError(f"unknown noise_type '{noise_type}'", "choose normal or ornstein-uhlenbeck")
        kwargs["action_noise"] = kinds[noise_type](mean=np.zeros(n_actions), sigma=std)
    return kwargs


def build_model(
    name: str,
    env: Any,
    hyperparams: dict[str, Any],
    *,
    seed: int | None = None,
    device: str = "auto",
    for_training: bool = True,
) -> Any:
    """A new SB3 model of algorithm ``name`` on ``env``.

    ``for_training=False`` shrinks the replay buffer to one transition: enough to load weights and act.

    Raises:
        ConfigError: a hyper-parameter the algorithm rejects (wrong type, bad value, unknown policy key).
    """
    space = type(env.action_space).__name__
    if space not in get_algo(name).action_spaces:
        fits = [a.name for a in ALGOS.values() if space in a.action_spaces]
        raise ConfigError(f"{name} cannot act in a {space} action space", f"choose one of: {', '.join(fits) or 'none'}")
    kwargs = build_kwargs(name, hyperparams, int(np.prod(env.action_space.shape)))
    if not for_training and get_algo(name).off_policy:
        kwargs["buffer_size"] = 1
    policy = hyperparams.get("policy", "MlpPolicy")
    try:
        with warnings.catch_warnings():
            if not for_training:  # a model built to act: rollout sizing warnings do not apply
                warnings.filterwarnings("ignore", message=".*mini-batch size.*", category=UserWarning)
            return algo_class(name)(policy, env, seed=seed, device=device, verbose=0, **kwargs)
    # RuntimeError: torch refusing a layer size (``net_arch: [-1]``) or its memory
    except (TypeError, ValueError, AssertionError, KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"{name} rejected the hyper-parameters: {first}", "check the preset, --hyperparams file and --set values"
        ) from None


def step_unit(model: Any) -> int:
    """Timesteps one uninterrupted unit of collection takes: checkpoints fall on multiples of it.

    On-policy algorithms collect ``n_steps * n_envs`` before each update; off-policy ones
    ``train_freq * n_envs`` (in steps) between updates, or ``n_envs`` when counted in episodes.
    """
    from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
    from stable_baselines3.common.type_aliases import TrainFrequencyUnit

    if isinstance(model, OnPolicyAlgorithm):
        return int(model.n_steps) * model.n_envs
    freq = model.train_freq
    return (int(freq.frequency) if freq.unit == TrainFrequencyUnit.STEP else 1) * model.n_envs
