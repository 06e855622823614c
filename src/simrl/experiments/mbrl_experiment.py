"""``simrl mbrl --env ENV``: the model-based assignment's whole experiment in one command.

MPC with random shooting, MPC with CEM, MBPO and SAC (the model-free reference) train on the same env,
env-step budget, evaluation schedule and seeds, each an ordinary run folder under ``OUT/runs``; one page
then compares their learning curves against env steps and against training wall time (evaluation time
left out: an MPC agent plans at every evaluation step too) with IQM and 95% CIs, and says when each
first reached ``--target``. A second call with the same ``--out`` keeps the finished runs and resumes
the unfinished ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import ConfigError
from simrl.experiments.comparison import ArmTiming, Curve, MBRLResult
from simrl.experiments.config import TrainConfig
from simrl.experiments.mbrl_report import render

ARMS: dict[str, tuple[str, dict[str, Any]]] = {
    "mpc-random": ("mpc", {"planner": "random"}),
    "mpc-cem": ("mpc", {"planner": "cem"}),
    "mbpo": ("mbpo", {}),
    "sac": ("sac", {}),
}
"""Arm name -> (algorithm, hyper-parameters over the algorithm's preset for the env)."""


def default_budget(env_id: str) -> int:
    """The mpc preset's ``n_timesteps`` for ``env_id`` (its ``default:`` block's for an env it does not name)."""
    from simrl.experiments.hyperparams import preset_path, read_yaml, zoo_blocks

    return int(zoo_blocks(read_yaml(preset_path("mpc"), "preset"), env_id, "configs/mpc.yaml")["n_timesteps"])


def plan_configs(
    env_id: str,
    *,
    arms: dict[str, tuple[str, dict[str, Any]]],
    timesteps: int,
    seeds: list[int],
    eval_episodes: int,
    eval_freq: int,
    sets: dict[str, list[str]] | None = None,
    device: str = "auto",
) -> dict[str, list[TrainConfig]]:
    """Every run's configuration, checked before anything is written (ConfigError for a bad value).

    ``arms`` maps an arm's name to its algorithm and the hyper-parameters over the algorithm's preset
    (:data:`ARMS` holds the command's); ``sets`` maps an arm's name to its ``--set`` assignments.
    """
    from simrl.experiments.config import resolve

    if not arms:
        raise ConfigError("no arm to run", f"choose from: {', '.join(ARMS)}")
    if not seeds:
        raise ConfigError("--seeds must be at least 1")
    configs = {}
    for arm, (algo, over) in arms.items():
        configs[arm] = [
            resolve(
                algo,
                env_id,
                timesteps=timesteps,
                seed=seed,
                hyperparams=over,
                sets=list((sets or {}).get(arm, [])),
                eval_freq=eval_freq,
                eval_episodes=eval_episodes,
                checkpoints=(100,),
                device=device,
            )
            for seed in seeds
        ]
    return configs


def train_all(configs: dict[str, list[TrainConfig]], out: Path, log: Callable[[str], None] = print) -> list[Path]:
    """Train every run not done yet (seed by seed, every arm in turn); returns the run folders, by arm."""
    from simrl.experiments.runfolder import RunFolder
    from simrl.experiments.training import resume, start

    runs_dir = out / "runs"
    n = len(next(iter(configs.values())))
    for i in range(n):
        for arm, arm_configs in configs.items():
            config = arm_configs[i]
            path = runs_dir / f"{arm}-s{config.seed}"
            what = f"{arm} s{config.seed}"
            if path.exists() and RunFolder.open(path).read_meta().get("status") == "done":
                log(f"{what}: done, kept")
                continue
            started = time.monotonic()
            run = resume(path) if path.exists() else start(config, runs_dir, path.name, f"simrl mbrl: {what}")
            summary = run.train()
            log(f"{what}: final {summary.final_mean:.1f} ({time.monotonic() - started:.0f} s)")
    return [runs_dir / f"{arm}-s{c.seed}" for arm, cs in configs.items() for c in cs]


def arm_timing(arm: str, run_dirs: list[Path], target: float | None) -> ArmTiming:
    """The arm's IQM curve against the median training seconds at each evaluation, and its time to ``target``."""
    from simrl.evaluation.stats import curve_iqm
    from simrl.experiments.runfolder import RunFolder

    logs = [RunFolder.open(d).load_evals() for d in run_dirs]
    steps = sorted(set.intersection(*(set(log.timesteps) for log in logs)))
    rows = [[log.timesteps.index(s) for s in steps] for log in logs]
    means = np.array([[float(np.mean(log.results[i])) for i in r] for log, r in zip(logs, rows, strict=True)])
    seconds = np.array([[log.train_seconds[i] for i in r] for log, r in zip(logs, rows, strict=True)])
    c = curve_iqm(means, rng=0)
    curve = Curve(np.nanmedian(seconds, axis=0), np.array(c["iqm"]), np.array(c["lo"]), np.array(c["hi"]))
    to_steps: list[int | None] = []
    to_seconds: list[float | None] = []
    for log in logs:
        hit = next((i for i, r in enumerate(log.results) if target is not None and np.mean(r) >= target), None)
        to_steps.append(None if hit is None else log.timesteps[hit])
        to_seconds.append(None if hit is None or math.isnan(log.train_seconds[hit]) else log.train_seconds[hit])
    return ArmTiming(arm, curve, tuple(to_steps), tuple(to_seconds))


def run_experiment(
    env_id: str,
    *,
    out: Path,
    arms: list[str] | dict[str, tuple[str, dict[str, Any]]],
    timesteps: int,
    seeds: list[int],
    eval_episodes: int = 10,
    eval_freq: int | None = None,
    target: float | None = None,
    sets: dict[str, list[str]] | None = None,
    device: str = "auto",
    log: Callable[[str], None] = print,
) -> MBRLResult:
    """Train every arm on every seed (or resume), compare them, write ``OUT/mbrl.json`` and ``OUT/report.html``.

    ``arms``: names from :data:`ARMS`, or a mapping of one's own (name -> algorithm, hyper-parameters).
    """
    if not isinstance(arms, dict):
        unknown = [a for a in arms if a not in ARMS]
        if unknown:
            raise ConfigError(f"unknown arm '{unknown[0]}'", f"choose from: {', '.join(ARMS)}")
        arms = {a: ARMS[a] for a in arms}
    from simrl.experiments.reporting import compute_comparison
    from simrl.experiments.results import write_json

    freq = eval_freq or max(1, timesteps // 10)
    configs = plan_configs(
        env_id,
        arms=arms,
        timesteps=timesteps,
        seeds=seeds,
        eval_episodes=eval_episodes,
        eval_freq=freq,
        sets=sets,
        device=device,
    )
    out.mkdir(parents=True, exist_ok=True)
    dirs = train_all(configs, out, log)
    labels = [arm for arm, cs in configs.items() for _ in cs]
    comparison = compute_comparison(dirs, labels=labels, group_by=["arm"])
    timings = tuple(
        arm_timing(arm, [d for d, label in zip(dirs, labels, strict=True) if label == arm], target) for arm in configs
    )
    result = MBRLResult(out, env_id, timesteps, tuple(seeds), target, comparison, timings, out / "report.html")
    write_json(out / "mbrl.json", result.to_json())
    render(result)
    return result
