"""The training configuration: parsed once, at the edge, into a frozen dataclass.

Precedence: preset ``default:`` < preset for the env id < ``--hyperparams FILE`` < ``--set key=value``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError, SimrlError
from simrl.experiments.hyperparams import (
    apply_set,
    parse_value,
    preset_path,
    read_yaml,
    split_assignment,
    zoo_blocks,
)

__all__ = [
    "DEFAULT_CHECKPOINTS",
    "TrainConfig",
    "apply_set",
    "check_out_dir",
    "parse_checkpoints",
    "parse_env_kwargs",
    "parse_env_params",
    "parse_grid",
    "parse_randomize",
    "parse_value",
    "preset_path",
    "read_yaml",
    "resolve",
    "split_assignment",
    "zoo_blocks",
]

DEFAULT_CHECKPOINTS = (25, 50, 100)
VEC_ENVS = ("dummy", "subproc")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; ``config.yaml`` in the run folder is this, resolved."""

    algo: str
    """Algorithm name: ppo, a2c, sac, td3, tqc or crossq."""
    env_id: str
    """A registered Gymnasium id."""
    timesteps: int
    """Total environment steps (rounded up to whole collection units, see ``rl.algos.step_unit``)."""
    seed: int
    """Seeds the model, the training env and every derived generator."""
    n_envs: int
    """Parallel training environments."""
    hyperparams: dict[str, Any] = field(default_factory=dict)
    """Constructor hyper-parameters in plain YAML form (``lin_1e-3``, ``activation_fn: tanh``)."""
    env_params: dict[str, float] = field(default_factory=dict)
    """Fixed simulator parameters of the training and evaluation env."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Further constructor arguments of the env (``reward: alive``), checked against its constructor."""
    eval_env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments for evaluation only, over ``env_kwargs`` (``reset_noise_scale: 0.1``): the
    in-training evaluations, the random baseline, and eval, record and report of the run."""
    vec_env: str = "dummy"
    """How the ``n_envs`` training envs run: ``dummy`` (one process, in turn) or ``subproc`` (a process each)."""
    randomize: dict[str, list[float]] = field(default_factory=dict)
    """name -> [low, high]: uniform domain randomization per training episode."""
    param_samples: str | None = None
    """An npz of parameter samples (``names``, ``samples``), one row drawn per training episode (BayesSim's
    posterior). Relative paths are relative to the run folder, which keeps its own copy."""
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS
    """Percentages of ``timesteps`` at which a checkpoint is written (100 always included)."""
    eval_freq: int = 0
    """Evaluate every this many timesteps (and at every checkpoint)."""
    eval_episodes: int = 10
    """Deterministic episodes per evaluation, on fixed seeds."""
    device: str = "auto"
    """Torch device for the networks."""
    kind: str = "sb3"
    """The learner family that trains ``algo`` (``simrl.experiments.kinds``); readers load its policies by it."""
    demos: str | None = None
    """Imitation learners: the demonstrations (an npz of ``simrl collect``). Relative paths are relative to
    the run folder, which keeps its own copy (demos.npz)."""
    expert: str | None = None
    """Imitation learners: the run folder or policy file the demonstrations were collected from (``--expert``)."""
    demo_episodes: int | None = None
    """Imitation learners: the episodes used, the first ones of ``demos`` (None: all of them)."""
    expert_policy: str | None = None
    """``dagger``: the policy file of the expert it asks, resolved from ``expert`` when the run starts; relative
    to the run folder, which keeps its own copy (expert.zip, expert.pt)."""

    def make_env(self, base: str | Path | None = None) -> Any:
        """The training vec env: ``n_envs`` copies seeded from ``seed``, with the fixed parameters,
        randomization (or the bank of ``param_samples``, relative to ``base``) and env kwargs."""
        from simrl.envs.params import load_samples
        from simrl.envs.vec import make_vec_env

        samples = load_samples(Path(base or ".") / self.param_samples) if self.param_samples else None
        return make_vec_env(
            self.env_id,
            self.n_envs,
            seed=self.seed,
            params=self.env_params,
            randomize={k: tuple(v) for k, v in self.randomize.items()},
            samples=samples,
            env_kwargs=self.env_kwargs,
            subprocess=self.vec_env == "subproc",
        )

    def policy_info(self, kind: str, **extra: Any) -> dict[str, Any]:
        """What a saved policy's simrl.json records of this run (``extra`` adds or replaces keys); the step
        count is added when the policy is saved."""
        import simrl

        return {
            "format": 1,
            "kind": kind,
            "algo": self.algo,
            "env_id": self.env_id,
            "env_params": self.env_params,
            "env_kwargs": self.env_kwargs,
            "eval_env_kwargs": self.eval_env_kwargs,
            "hyperparams": self.hyperparams,
            "simrl_version": simrl.__version__,
            **extra,
        }

    @property
    def eval_kwargs(self) -> dict[str, Any]:
        """The env kwargs of evaluation: ``env_kwargs`` with ``eval_env_kwargs`` over them."""
        return {**self.env_kwargs, **self.eval_env_kwargs}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["checkpoints"] = list(self.checkpoints)
        return {"kind": d.pop("kind"), **d}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        try:
            d = dict(d)
            d["checkpoints"] = tuple(d.get("checkpoints", DEFAULT_CHECKPOINTS))
            for key in ("env_kwargs", "eval_env_kwargs"):
                kwargs = d.get(key)
                d[key] = {} if kwargs is None else kwargs  # absent before they existed
                if not isinstance(d[key], dict) or not all(isinstance(k, str) for k in d[key]):
                    raise TypeError(f"{key} must be a mapping of names to values")
            if d.get("vec_env", "dummy") not in VEC_ENVS:
                raise TypeError(f"vec_env must be one of {', '.join(VEC_ENVS)}, got {d['vec_env']!r}")
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"config.yaml does not describe a run: {e}") from None


def parse_env_params(items: list[str]) -> dict[str, str]:
    """``--env-param NAME=VALUE`` items; values are checked against the env's bounds later."""
    out = {}
    for item in items:
        key, value = split_assignment(item, "--env-param")
        out[key] = value
    return out


def parse_env_kwargs(items: list[str], option: str = "--env-kwarg") -> dict[str, Any]:
    """``--env-kwarg KEY=VALUE`` items; values are YAML scalars (``reward=alive``, ``g=9.81``).

    Names and values are checked against the env's constructor later (``check_env_kwargs``).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, raw = split_assignment(item, option)
        value = parse_value(raw)
        try:  # config.yaml and the model's simrl.json hold plain values only (YAML reads 2024-01-01 as a date)
            json.dumps(value)
        except (TypeError, ValueError):
            value = raw
        out[key] = value
    return out


def parse_randomize(items: list[str]) -> dict[str, list[float]]:
    """``--randomize NAME=LOW:HIGH`` items."""
    out = {}
    for item in items:
        key, value = split_assignment(item, "--randomize")
        lo, sep, hi = value.partition(":")
        try:
            bounds = [float(lo), float(hi)]
        except ValueError:
            bounds = []
        if not sep or len(bounds) != 2 or not all(math.isfinite(b) for b in bounds):
            raise ConfigError(f"--randomize expects NAME=LOW:HIGH with numbers, got '{item}'")
        if bounds[0] > bounds[1]:
            raise ConfigError(
                f"--randomize {key}: low {bounds[0]:g} > high {bounds[1]:g}", "write LOW:HIGH with LOW <= HIGH"
            )
        out[key] = bounds
    return out


MAX_GRID_POINTS = 10_000


def parse_grid(items: list[str]) -> list[tuple[str, list[float]]]:
    """``--grid NAME=LOW:HIGH:N`` items (one or two): N evenly spaced values from LOW to HIGH inclusive."""
    if len(items) > 2:
        raise ConfigError(f"--grid takes one or two parameters, got {len(items)}")
    axes = []
    for item in items:
        key, value = split_assignment(item, "--grid")
        parts = value.split(":")
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
            ok = len(parts) == 3 and math.isfinite(lo) and math.isfinite(hi)
        except (ValueError, IndexError):
            ok = False
        if not ok:
            raise ConfigError(f"--grid expects NAME=LOW:HIGH:N, got '{item}'", "e.g. --grid mass=0.5:2.0:7")
        if n < 1 or (n == 1 and lo != hi) or lo > hi:
            raise ConfigError(f"--grid {key}: need LOW <= HIGH and N >= 2 points (N = 1 only when LOW = HIGH)")
        if key in (a[0] for a in axes):
            raise ConfigError(f"--grid names '{key}' twice")
        axes.append((key, [lo + (hi - lo) * i / max(n - 1, 1) for i in range(n)]))
    if math.prod(len(a[1]) for a in axes) > MAX_GRID_POINTS:
        raise ConfigError(f"--grid has more than {MAX_GRID_POINTS} cells", "use fewer points")
    return axes


def check_out_dir(path: str | Path, option: str) -> Path:
    """A folder to write into: it may exist (as a folder) or not yet; anything else is a ConfigError."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise ConfigError(f"{option} '{path}': '{p}' is a file, not a folder", "choose a folder")
            if not os.access(p, os.W_OK):
                raise ConfigError(f"{option} '{path}': '{p}' is not writable")
            break
    return path


def parse_checkpoints(text: str) -> tuple[int, ...]:
    try:
        pcts = sorted({int(p) for p in text.replace(" ", "").split(",") if p})
    except ValueError:
        raise ConfigError(f"--checkpoints expects comma-separated percentages, got '{text}'") from None
    if not pcts or any(p <= 0 or p > 100 for p in pcts):
        raise ConfigError(f"--checkpoints percentages must lie in 1..100, got '{text}'")
    return tuple(sorted(set(pcts) | {100}))


def resolve(
    algo: str,
    env_id: str,
    *,
    timesteps: int | None = None,
    seed: int | None = None,
    n_envs: int | None = None,
    hyperparams_file: str | Path | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    sets: list[str] | None = None,
    env_params: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    eval_env_kwargs: dict[str, Any] | None = None,
    vec_env: str | None = None,
    randomize: dict[str, list[float]] | None = None,
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS,
    eval_freq: int | None = None,
    eval_episodes: int = 10,
    device: str = "auto",
    param_samples: str | Path | None = None,
    demos: str | Path | None = None,
    expert: str | Path | None = None,
    demo_episodes: int | None = None,
) -> TrainConfig:
    """Build the run's configuration from presets and overrides, checking every key and value.

    Hyper-parameters: the kind's presets < ``hyperparams_file`` < ``hyperparams`` (a mapping, the
    Python API's way) < ``sets`` (``key=value`` strings, the CLI's ``--set``). An imitation learner takes
    ``demos`` (a file) or ``expert`` (a run folder or policy file to collect from), and ``demo_episodes``.

    Raises:
        ConfigError, EnvError: an unknown algorithm, env, key or parameter; a bad value.
    """
    from simrl.envs.params import make_sampler
    from simrl.envs.vec import check_env_kwargs, param_space
    from simrl.experiments.kinds import check_demos, kind_for_algo, run_length
    from simrl.utils.device import check_device

    kind = kind_for_algo(algo)
    algo = algo.lower()
    check_demos(kind, algo, demos, expert, demo_episodes)
    check_device(device)
    space = param_space(env_id)  # raises for an unknown env id
    hp = kind.resolve_hyperparams(
        algo,
        env_id,
        file=Path(hyperparams_file) if hyperparams_file is not None else None,
        overrides=dict(hyperparams or {}),
        sets=list(sets or []),
    )

    length = run_length(kind, algo, hp)  # DAgger: its rounds fix its steps
    if length is not None and timesteps not in (None, length):
        msg = f"--timesteps {timesteps}: train {algo} takes {length} steps, one per round, round 0 included"
        raise ConfigError(msg, "set the number of rounds with --set rounds=N")
    total = timesteps if timesteps is not None else length if length is not None else hp.get("n_timesteps")
    if total is None:
        raise ConfigError(f"no --timesteps given and no n_timesteps preset for {algo} on {env_id}")
    total = _positive_int(total, "timesteps")
    envs = _positive_int(n_envs if n_envs is not None else hp.get("n_envs", 1), "n_envs")
    vec = vec_env if vec_env is not None else hp.get("vec_env", "dummy")
    if vec not in VEC_ENVS:
        raise ConfigError(f"vec_env must be one of {', '.join(VEC_ENVS)}, got '{vec}'")
    hp = {k: v for k, v in hp.items() if k not in ("n_timesteps", "n_envs", "vec_env")}
    if eval_episodes < 1:
        raise ConfigError(f"--eval-episodes must be at least 1, got {eval_episodes}")
    if eval_freq is not None and eval_freq < 1:
        raise ConfigError(f"--eval-freq must be at least 1, got {eval_freq}")
    if seed is None:
        import secrets

        seed = secrets.randbelow(2**31 - 1)
    if seed < 0:
        raise ConfigError(f"--seed must be non-negative, got {seed}")

    # Check parameter names and values now, before anything is written.
    rand = {k: tuple(v) for k, v in (randomize or {}).items()}
    if (env_params or rand) and not len(space):
        raise SimrlError(f"{env_id} has no simulator parameters", "see 'simrl envs' for parametric envs")
    samples = None
    if param_samples is not None:
        from simrl.envs.params import load_samples

        samples = load_samples(param_samples)
        param_samples = str(Path(param_samples).resolve())
    make_sampler(space, env_params, rand, samples)
    fixed = dict(space.make(env_params)) if env_params else {}
    fixed = {k: v for k, v in fixed.items() if k in (env_params or {})}
    kwargs = check_env_kwargs(env_id, env_kwargs or {})  # builds the env once when there are any
    eval_kwargs = dict(eval_env_kwargs or {})
    if eval_kwargs:  # checked as evaluation will build it: over the training kwargs
        check_env_kwargs(env_id, {**kwargs, **eval_kwargs})

    return TrainConfig(
        algo=algo,
        env_id=env_id,
        timesteps=total,
        seed=int(seed),
        n_envs=envs,
        hyperparams=hp,
        env_params=fixed,
        env_kwargs=kwargs,
        eval_env_kwargs=eval_kwargs,
        vec_env=vec,
        randomize={k: list(v) for k, v in rand.items()},
        checkpoints=tuple(checkpoints),
        eval_freq=int(eval_freq) if eval_freq is not None else max(1, total // 20),
        eval_episodes=int(eval_episodes),
        device=device,
        param_samples=param_samples,
        kind=kind.name,
        demos=str(Path(demos).resolve()) if demos is not None else None,
        expert=str(Path(expert).resolve()) if expert is not None else None,
        demo_episodes=demo_episodes,
    )


def _positive_int(value: Any, name: str) -> int:
    try:
        out = int(value)
        ok = out == float(value)
    except (TypeError, ValueError):
        ok = False
    if not ok or out <= 0:
        raise ConfigError(f"{name} must be a positive integer, got '{value}'")
    return out
