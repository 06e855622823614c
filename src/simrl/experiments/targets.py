"""What ``simrl eval`` and ``simrl envs`` need: resolve a target to a model, describe the envs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from simrl.errors import CheckpointError, ConfigError
from simrl.evaluation.evaluate import evaluate, random_baseline
from simrl.types import Policy


def resolve_model_path(run_dir: Path, which: str) -> Path:
    """The saved policy of a run folder: ``best``, ``final`` (newest checkpoint) or a percentage."""
    from simrl.experiments.kinds import get_kind, policy_file_of
    from simrl.experiments.runfolder import RunFolder

    folder = RunFolder.open(run_dir)
    return folder.policy_path(which, policy_file_of(get_kind(folder.kind), folder.algo))


@dataclass(frozen=True)
class Target:
    """A policy to evaluate or record, with the env, parameters and env kwargs it should meet."""

    model: Policy
    """The policy (an SB3 model for the ``sb3`` kind, whatever its kind loads otherwise)."""
    model_path: Path
    env_id: str
    params: dict[str, float]
    episodes: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments of the env (``reward="alive"``), checked by ``check_env_kwargs``."""
    kind: str = "sb3"
    algo: str | None = None
    """The algorithm that trained it, where the run or the file says (or ``--algo`` gave it)."""

    @property
    def policy(self) -> Policy:
        return self.model


def resolve_target(
    target: Path,
    *,
    env_id: str | None = None,
    env_params: dict[str, Any] | None = None,
    episodes: int | None = None,
    which: str = "best",
    env_kwargs: dict[str, Any] | None = None,
    algo: str | None = None,
    device: str = "cpu",
) -> Target:
    """Load the policy of a run folder (``which``: best, final or a percentage) or of a policy file,
    of any registered kind (``simrl.experiments.kinds``).

    The env defaults to the run's (or the one recorded in the file) with its fixed parameters and its
    evaluation's env kwargs (``env_kwargs`` with ``eval_env_kwargs`` over them), which ``env_params``
    and ``env_kwargs`` override (another env id starts from its defaults).
    Raises CheckpointError, ConfigError or EnvError for bad input.
    """
    from simrl.envs.params import make_sampler
    from simrl.envs.vec import check_env_kwargs, param_space
    from simrl.experiments.kinds import get_kind, kind_of_file
    from simrl.experiments.training import load_run_config
    from simrl.utils.device import check_device

    check_device(device)
    hyperparams = None
    base_params: dict[str, Any] = {}
    base_kwargs: dict[str, Any] = {}
    if target.is_dir():
        config, _ = load_run_config(target)
        kind = get_kind(config.kind)
        path = resolve_model_path(target, which)
        env_id = env_id or config.env_id
        algo, hyperparams = config.algo, config.hyperparams
        trained_by = algo
        base_params = dict(config.env_params) if env_id == config.env_id else {}
        base_kwargs = config.eval_kwargs if env_id == config.env_id else {}
        episodes = config.eval_episodes if episodes is None else episodes
    elif target.is_file():
        path = target
        kind, info = kind_of_file(path)
        env_id = env_id or info.get("env_id")
        if env_id is None:
            raise ConfigError(f"'{target}' was not written by simrl", "pass --env ENV_ID")
        trained_by = algo or (str(info["algo"]) if info.get("algo") else None)
        base_params = dict(info.get("env_params") or {}) if env_id == info.get("env_id") else {}
        if env_id == info.get("env_id"):
            for key in ("env_kwargs", "eval_env_kwargs"):  # evaluation's kwargs over training's
                more = info.get(key) or {}
                if not isinstance(more, dict):
                    raise CheckpointError(f"'{target}' has a corrupt simrl.json ({key} is not a mapping)")
                base_kwargs.update(more)
    else:
        raise CheckpointError(f"'{target}' does not exist", "give a run folder or a model.zip")
    episodes = 10 if episodes is None else episodes
    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    space = param_space(env_id)
    if env_params and not len(space):
        raise ConfigError(f"{env_id} has no simulator parameters")
    params = dict(make_sampler(space, {**base_params, **(env_params or {})}).params) if len(space) else {}
    kwargs = {**base_kwargs, **(env_kwargs or {})}
    kwargs = check_env_kwargs(env_id, kwargs) if kwargs else {}
    policy = kind.load_policy(path, env_id=env_id, env_kwargs=kwargs, algo=algo, hyperparams=hyperparams, device=device)
    return Target(policy, path, env_id, params, episodes, kwargs, kind.name, trained_by)


@dataclass(frozen=True)
class EvalReport:
    """A policy and the random policy on the same episode seeds (what ``simrl eval --json`` prints)."""

    model: str
    env_id: str
    env_params: dict[str, float]
    env_kwargs: dict[str, Any]
    episodes: int
    mean: float
    std: float
    returns: list[float]
    lengths: list[int]
    random_mean: float
    random_std: float
    info: dict[str, list[float]] = field(default_factory=dict)
    """Per-episode ``reward_*`` terms (sums; they add up to ``returns``) and ``metric_*`` measures (means
    over the episode) the env reports in ``info``; empty for envs that report none."""
    random_info: dict[str, float] = field(default_factory=dict)
    """The random policy's mean of each of those over its episodes."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_target(target: Target) -> EvalReport:
    """The target's policy and the random policy on the same seeds."""
    result = evaluate(target.model, target.env_id, target.episodes, params=target.params, env_kwargs=target.env_kwargs)
    baseline = random_baseline(target.env_id, target.episodes, params=target.params, env_kwargs=target.env_kwargs)
    return EvalReport(
        model=str(target.model_path),
        env_id=target.env_id,
        env_params=target.params,
        env_kwargs=target.env_kwargs,
        episodes=target.episodes,
        mean=result.mean,
        std=result.std,
        returns=result.returns.tolist(),
        lengths=result.lengths.tolist(),
        random_mean=baseline.mean,
        random_std=baseline.std,
        info={k: v.tolist() for k, v in result.info.items()},
        random_info={k: float(v.mean()) for k, v in baseline.info.items()},
    )


def describe_envs() -> list[dict[str, Any]]:
    """Every registered simrl/* env and the Gymnasium MuJoCo tasks simrl gives parameters (their newest
    versions): sizes, episode limit, parameters, reward variants (the first is the default)."""
    import gymnasium as gym
    import numpy as np

    from simrl.envs.mujoco import MUJOCO_IDS
    from simrl.envs.vec import make_env, param_space

    rows = []
    for env_id in [*sorted(k for k in gym.registry if k.startswith("simrl/")), *MUJOCO_IDS]:
        env = make_env(env_id)
        rows.append(
            {
                "id": env_id,
                "obs": int(np.prod(env.observation_space.shape)),
                "act": int(np.prod(env.action_space.shape)),
                "max_steps": gym.spec(env_id).max_episode_steps,
                "params": [
                    {"name": p.name, "default": p.default, "low": p.low, "high": p.high, "unit": p.unit}
                    for p in param_space(env_id).params
                ],
                "rewards": list(getattr(env.unwrapped, "REWARDS", ())),
            }
        )
        env.close()
    return rows


def robustness_outputs(target_path: Path, out: Path | None) -> Path:
    """Where ``simrl eval --grid`` writes: ``--out``, else the run folder, else the model's folder."""
    if out is not None:
        return out
    return target_path if target_path.is_dir() else target_path.parent


def evaluate_robustness(target: Target, axes: list[tuple[str, list[float]]], out_dir: Path) -> dict[str, Any]:
    """Evaluate the target on every grid cell; write robustness.csv and robustness.png into ``out_dir``."""
    import numpy as np

    from simrl.evaluation import plots
    from simrl.evaluation.robustness import Axis, evaluate_grid

    grid_axes = [Axis(name, np.asarray(values, dtype=np.float64)) for name, values in axes]
    grid = evaluate_grid(
        target.model, target.env_id, grid_axes, target.episodes, params=target.params, env_kwargs=target.env_kwargs
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    grid.to_csv(out_dir / "robustness.csv")
    nominal = tuple(target.params.get(a.name) for a in grid_axes)
    plots.robustness(
        [(a.name, a.values) for a in grid_axes],
        grid.mean,
        out_dir / "robustness.png",
        title=f"mean return over {target.episodes} episodes per cell ({target.env_id})",
        std=grid.std if len(grid_axes) == 1 else None,
        mark=nominal if None not in nominal else None,
    )
    return {
        "model": str(target.model_path),
        "env_id": target.env_id,
        "env_kwargs": target.env_kwargs,
        "episodes": target.episodes,
        "axes": {a.name: a.values.tolist() for a in grid_axes},
        "mean": grid.mean.tolist(),
        "std": grid.std.tolist(),
        "csv": str(out_dir / "robustness.csv"),
        "png": str(out_dir / "robustness.png"),
    }
