"""simrl from Python: train, resume and evaluate with plain mappings; the ``simrl`` command uses this.

    import simrl.api as simrl

    run = simrl.train("sac", "simrl/Pendulum-v0", timesteps=6_000, seed=0,
                      hyperparams={"learning_rate": 1e-3, "policy_kwargs": {"net_arch": [64, 64]}},
                      env_params={"mass": 1.2}, out="runs", name="sac-heavy")
    print(run.status, run.final_mean, run.dir)
    report = simrl.evaluate(run.dir, env_params={"mass": 1.5})

A callback ``callback(step, eval_mean)`` is called where the policy has just been updated
(``eval_mean`` None) and after every evaluation; returning False stops the run, and its run folder
then says ``stopped`` (what an Optuna pruner needs). Every run releases its envs, files and lock
when it ends, however it ends. Bad input raises a :class:`simrl.errors.SimrlError` before anything
is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simrl.data.demos import Demos
from simrl.experiments.config import DEFAULT_CHECKPOINTS, TrainConfig, resolve
from simrl.experiments.targets import EvalReport
from simrl.experiments.training import Callback, Run, RunSummary
from simrl.types import Policy

__all__ = [
    "Callback",
    "Demos",
    "EvalReport",
    "Run",
    "RunSummary",
    "collect",
    "configure",
    "evaluate",
    "load_policy",
    "reopen",
    "resume",
    "start",
    "train",
]


def configure(
    algo: str,
    env_id: str,
    *,
    timesteps: int | None = None,
    seed: int | None = None,
    n_envs: int | None = None,
    hyperparams: Mapping[str, Any] | None = None,
    hyperparams_file: str | Path | None = None,
    env_params: Mapping[str, float] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    eval_env_kwargs: Mapping[str, Any] | None = None,
    vec_env: str | None = None,
    randomize: Mapping[str, tuple[float, float]] | None = None,
    param_samples: str | Path | None = None,
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS,
    eval_freq: int | None = None,
    eval_episodes: int = 10,
    device: str = "auto",
    demos: str | Path | None = None,
    expert: str | Path | None = None,
    demo_episodes: int | None = None,
) -> TrainConfig:
    """A checked, fully resolved run configuration (presets < ``hyperparams_file`` < ``hyperparams``).

    Imitation learners (``bc``) take ``demos`` (an npz of :func:`collect`) or ``expert`` (a run folder or
    policy file whose demonstrations are collected when the run starts), and ``demo_episodes`` (the
    first episodes of ``demos``; the number collected from ``expert``, 10 by default). ``dagger`` needs
    ``expert`` (it asks it for labels every round) and starts from ``demos`` when given.

    ``env_kwargs`` go to the env's constructor in training and evaluation, ``eval_env_kwargs`` over them
    in evaluation only (``{"reset_noise_scale": 0.1}``); ``vec_env`` is ``dummy`` or ``subproc``
    (default: the preset's ``vec_env``, else ``dummy``).

    Raises:
        ConfigError, EnvError: an unknown algorithm, env, key or parameter; a bad value.
    """
    from simrl.errors import ConfigError

    if checkpoints is not DEFAULT_CHECKPOINTS:
        pcts = sorted(set(checkpoints) | {100})
        if any(not isinstance(p, int) or p <= 0 or p > 100 for p in pcts):
            raise ConfigError(f"checkpoint percentages must lie in 1..100, got {checkpoints}")
        checkpoints = tuple(pcts)
    return resolve(
        algo,
        env_id,
        timesteps=timesteps,
        seed=seed,
        n_envs=n_envs,
        hyperparams_file=hyperparams_file,
        hyperparams=hyperparams,
        env_params=dict(env_params or {}),
        env_kwargs=dict(env_kwargs or {}),
        eval_env_kwargs=dict(eval_env_kwargs or {}),
        vec_env=vec_env,
        randomize={k: [float(lo), float(hi)] for k, (lo, hi) in (randomize or {}).items()},
        checkpoints=checkpoints,
        eval_freq=eval_freq,
        eval_episodes=eval_episodes,
        device=device,
        param_samples=param_samples,
        demos=demos,
        expert=expert,
        demo_episodes=demo_episodes,
    )


def start(config: TrainConfig, *, out: str | Path = "runs", name: str | None = None, command: str | None = None) -> Run:
    """Create the run folder of ``config`` and return the :class:`Run` (call ``run.train()``); an imitation
    run's ``expert`` demonstrations are collected first and kept in the folder as demos.npz."""
    from simrl.errors import ConfigError
    from simrl.experiments.imitating import start as start_run

    if name is not None and (
        not name or "/" in name or name in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise ConfigError(f"--name {name!r} is not a folder name", "no '/', no control characters")
    return start_run(config, Path(out), name, command or f"simrl.api.start({config.algo!r}, {config.env_id!r})")


def train(
    algo: str,
    env_id: str,
    *,
    out: str | Path = "runs",
    name: str | None = None,
    callback: Callback | None = None,
    **settings: Any,
) -> RunSummary:
    """Configure (``settings`` as :func:`configure` takes them), create the run folder and train.

    Returns the run's :class:`RunSummary` (folder, status, steps, final and best evaluation means).
    """
    config = configure(algo, env_id, **settings)
    run = start(config, out=out, name=name, command=f"simrl.api.train({algo!r}, {env_id!r})")
    return run.train(callback)


def reopen(run_dir: str | Path) -> Run:
    """A stopped, failed or killed run at its newest complete checkpoint, ready to ``train`` again.

    Checks the folder and checkpoint before changing anything on disk.
    """
    from simrl.experiments.training import resume as resume_run

    return resume_run(Path(run_dir))


def resume(run_dir: str | Path, *, callback: Callback | None = None) -> RunSummary:
    """Continue a run from its newest complete checkpoint to its full timestep count."""
    return reopen(run_dir).train(callback)


def evaluate(
    target: str | Path,
    *,
    env_id: str | None = None,
    env_params: Mapping[str, Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    episodes: int | None = None,
    which: str = "best",
    algo: str | None = None,
    device: str = "cpu",
) -> EvalReport:
    """Evaluate a run folder's policy (``which``: best, final or a percentage) or a policy file on fixed
    seeds, beside the random policy on the same seeds. ``algo`` names the algorithm of a model.zip that
    simrl did not write."""
    from simrl.experiments.targets import evaluate_target, resolve_target

    t = resolve_target(
        Path(target),
        env_id=env_id,
        env_params=dict(env_params or {}),
        env_kwargs=dict(env_kwargs or {}),
        episodes=episodes,
        which=which,
        algo=algo,
        device=device,
    )
    return evaluate_target(t)


def collect(
    target: str | Path,
    *,
    episodes: int,
    out: str | Path,
    seed: int = 0,
    deterministic: bool = True,
    noise: float = 0.0,
    force: bool = False,
    env_id: str | None = None,
    env_params: Mapping[str, Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    which: str = "best",
    algo: str | None = None,
    device: str = "cpu",
) -> Demos:
    """Record ``episodes`` whole episodes of a run folder's policy or a policy file's into ``out`` (an .npz;
    an existing one only with ``force``), the env resolved as :func:`evaluate` resolves it. Returns the
    :class:`~simrl.data.demos.Demos` written; ``Demos.load(out, env_id=...)`` reads them back checked.
    ``noise`` > 0 records as DART does: the env takes the actions plus Gaussian noise of that many half
    action ranges, and the file keeps the policy's own actions as ``expert_actions``."""
    from simrl.experiments.collecting import collect as collect_demos

    return collect_demos(
        Path(target),
        episodes=episodes,
        out=Path(out),
        seed=seed,
        deterministic=deterministic,
        noise=noise,
        force=force,
        env_id=env_id,
        env_params=dict(env_params or {}),
        env_kwargs=dict(env_kwargs or {}),
        which=which,
        algo=algo,
        device=device,
    )


def load_policy(target: str | Path, *, which: str = "best", device: str = "cpu") -> Policy:
    """The policy of a run folder or a policy file, of any learner kind."""
    from simrl.experiments.targets import resolve_target

    return resolve_target(Path(target), which=which, device=device).model
