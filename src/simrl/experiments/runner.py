"""Training runs: the run folder, segmented training between checkpoints, exact resume.

Training proceeds in segments, one ``learn`` call per checkpoint. At every segment start the
training env is reseeded from (seed, step) and reset, in an uninterrupted run and in a resumed one
alike; with the model, optimiser, replay buffer and global random states restored from the
checkpoint, a resumed run therefore continues exactly as the uninterrupted one would have.
"""

from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simrl.errors import CheckpointError, ConfigError
from simrl.evaluation.evaluate import EvalResult, evaluate, random_baseline
from simrl.experiments import checkpoint as ckpt
from simrl.experiments.config import TrainConfig
from simrl.utils import atomic
from simrl.utils.seeding import (
    derive_seed,
    generator_state,
    global_rng_state,
    set_generator_state,
    set_global_rng_state,
)


@dataclass
class EvalLog:
    """Periodic evaluations, in SB3's EvalCallback layout, and the best mean so far."""

    timesteps: list[int] = field(default_factory=list)
    results: list[np.ndarray] = field(default_factory=list)
    ep_lengths: list[np.ndarray] = field(default_factory=list)
    best_mean: float = -math.inf

    def add(self, step: int, result: EvalResult) -> bool:
        """Record an evaluation; True when it is the best so far."""
        self.timesteps.append(step)
        self.results.append(result.returns)
        self.ep_lengths.append(result.lengths)
        if result.mean > self.best_mean:
            self.best_mean = result.mean
            return True
        return False

    def save(self, path: Path) -> None:
        buf = io.BytesIO()
        np.savez(
            buf,
            timesteps=np.array(self.timesteps, dtype=np.int64),
            results=np.array(self.results, dtype=np.float64).reshape(len(self.timesteps), -1),
            ep_lengths=np.array(self.ep_lengths, dtype=np.int64).reshape(len(self.timesteps), -1),
        )
        atomic.write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: Path, max_step: int, best_mean: float) -> EvalLog:
        log = cls(best_mean=best_mean)
        if path.is_file():
            with np.load(path, allow_pickle=False) as npz:
                for t, r, n in zip(npz["timesteps"], npz["results"], npz["ep_lengths"], strict=True):
                    if t <= max_step:
                        log.timesteps.append(int(t))
                        log.results.append(r)
                        log.ep_lengths.append(n)
        return log


def versions() -> dict[str, str]:
    import gymnasium
    import sb3_contrib
    import stable_baselines3
    import torch

    import simrl

    return {
        "python": sys.version.split()[0],
        "simrl": simrl.__version__,
        "numpy": np.__version__,
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "sb3_contrib": sb3_contrib.__version__,
        "gymnasium": gymnasium.__version__,
    }


def git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def schedule(total: int, unit: int, pcts: tuple[int, ...]) -> tuple[int, list[tuple[int, int]]]:
    """Round ``total`` up to whole units and place each checkpoint on a unit boundary.

    Returns the rounded total and (pct, step) pairs, one per distinct step (the largest pct wins).
    """
    total = math.ceil(total / unit) * unit
    steps: dict[int, int] = {}
    for pct in sorted(pcts):
        step = min(total, max(unit, math.ceil(pct / 100 * total / unit) * unit))
        steps[step] = pct
    return total, sorted(((pct, step) for step, pct in steps.items()), key=lambda x: x[1])


class Run:
    """A run folder being trained: its config, its model and env, its evaluations."""

    def __init__(self, run_dir: Path, config: TrainConfig, model: Any, venv: Any, meta: dict) -> None:
        from simrl.rl.algos import step_unit

        self.dir = run_dir
        self.config = config
        self.model = model
        self.venv = venv
        self.meta = meta
        self.total, self.plan = schedule(config.timesteps, step_unit(model), config.checkpoints)
        model.run_total_timesteps = self.total
        self.evals = EvalLog()
        self.next_eval = config.eval_freq
        self.on_progress: Callable[[int, float | None], None] = lambda step, mean: None
        self.lock: RunLock | None = None

    # ---------------------------------------------------------------- building
    @staticmethod
    def build(config: TrainConfig, base: Path | None = None, *, for_training: bool = True) -> tuple[Any, Any]:
        """The training vec env (monitored) and a new model on it; raises ConfigError for bad settings.

        ``base`` is the run folder, against which a relative ``param_samples`` path is read.
        """
        from stable_baselines3.common.vec_env import VecMonitor

        from simrl.envs.params import load_samples
        from simrl.envs.vec import make_vec_env
        from simrl.rl.algos import build_model

        randomize = {k: tuple(v) for k, v in config.randomize.items()}
        samples = load_samples(Path(base or ".") / config.param_samples) if config.param_samples else None
        venv = VecMonitor(
            make_vec_env(
                config.env_id,
                config.n_envs,
                seed=config.seed,
                params=config.env_params,
                randomize=randomize,
                samples=samples,
                env_kwargs=config.env_kwargs,
            )
        )
        model = build_model(
            config.algo, venv, config.hyperparams, seed=config.seed, device=config.device, for_training=for_training
        )
        return model, venv

    def model_info(self) -> dict[str, Any]:
        import simrl

        return {
            "format": 1,
            "algo": self.config.algo,
            "env_id": self.config.env_id,
            "env_params": self.config.env_params,
            "env_kwargs": self.config.env_kwargs,
            "hyperparams": self.config.hyperparams,
            "num_timesteps": int(self.model.num_timesteps),
            "simrl_version": simrl.__version__,
        }

    # ---------------------------------------------------------------- files
    def write_meta(self, **changes: Any) -> None:
        self.meta.update(changes, updated=now())
        atomic.write_json(self.dir / "meta.json", self.meta)

    def evaluate_now(self) -> EvalResult:
        c = self.config
        return evaluate(self.model, c.env_id, c.eval_episodes, params=c.env_params, env_kwargs=c.env_kwargs)

    def record_eval(self, step: int, result: EvalResult) -> None:
        from simrl.rl.io import save_model

        if self.evals.add(step, result):
            save_model(self.model, self.dir / "best_model.zip", self.model_info())
        self.evals.save(self.dir / "evaluations.npz")
        self.model.logger.record("eval/mean_reward", result.mean)
        self.model.logger.record("eval/std_reward", result.std)
        self.model.logger.record("eval/mean_ep_length", float(np.mean(result.lengths)))
        self.on_progress(step, result.mean)

    def maybe_evaluate(self, step: int) -> None:
        if step >= self.next_eval:
            self.record_eval(step, self.evaluate_now())
            while self.next_eval <= step:
                self.next_eval += self.config.eval_freq

    def write_checkpoint(self, pct: int, step: int, result: EvalResult) -> None:
        from simrl.rl.io import save_model, save_replay_buffer

        state = {
            "step": step,
            "pct": pct,
            "timesteps_total": self.total,
            "rng": global_rng_state(),
            "action_space_rng": generator_state(self.model.action_space.np_random),
            "eval": {"best_mean": self.evals.best_mean, "next_eval": self.next_eval},
            "time": now(),
        }
        files: dict[str, Callable[[Path], None]] = {
            "model.zip": lambda p: save_model(self.model, p, self.model_info()),
            "state.json": lambda p: atomic.write_json(p, state),
            "eval.npz": lambda p: result.save(p),
        }
        if getattr(self.model, "replay_buffer", None) is not None:
            files["replay_buffer.npz"] = lambda p: save_replay_buffer(self.model.replay_buffer, p)
        ckpt.write(self.dir, pct, files)

    # ---------------------------------------------------------------- training
    def train(self) -> None:
        from stable_baselines3.common.callbacks import BaseCallback

        run = self

        class Hook(BaseCallback):
            # Evaluate at rollout starts: the policy has just been updated with everything collected
            # so far (mid-rollout, a PPO policy is the one of the last update: a repeat evaluation).
            def _on_rollout_start(self) -> None:
                run.maybe_evaluate(self.num_timesteps)

            def _on_step(self) -> bool:
                run.on_progress(self.num_timesteps, None)
                return True

        started = time.monotonic()
        wall_before = float(self.meta.get("wall_time_s", 0.0))
        hook = Hook()
        for pct, step in self.plan:
            done = int(self.model.num_timesteps)
            if step <= done:
                continue
            # Reseed and reset the env at each segment start (see the module docstring).
            self.venv.seed(derive_seed(self.config.seed, done))
            self.model._last_obs = None
            self.model.learn(step - done, callback=hook, reset_num_timesteps=False, progress_bar=False)
            step = int(self.model.num_timesteps)
            if self.evals.timesteps and self.evals.timesteps[-1] == step:
                result = EvalResult(self.evals.results[-1], self.evals.ep_lengths[-1])
            else:
                result = self.evaluate_now()
                self.record_eval(step, result)
                while self.next_eval <= step:
                    self.next_eval += self.config.eval_freq
            self.model.logger.dump(step)
            self.write_checkpoint(pct, step, result)
            self.write_meta(
                timesteps_done=step,
                last_checkpoint=pct,
                wall_time_s=round(wall_before + time.monotonic() - started, 3),
                best_mean_reward=self.evals.best_mean,
                last_mean_reward=result.mean,
            )
        self.write_meta(status="done", finished=now())

    def restore(self, cp: ckpt.Checkpoint) -> None:
        """Load a checkpoint's model, replay buffer, random and evaluation states into this run."""
        from simrl.rl.io import load_into, load_replay_buffer

        load_into(self.model, cp.path / "model.zip", device=self.config.device)
        if getattr(self.model, "replay_buffer", None) is not None:
            load_replay_buffer(self.model.replay_buffer, cp.path / "replay_buffer.npz")
        try:
            set_global_rng_state(cp.state["rng"])
            set_generator_state(self.model.action_space.np_random, cp.state["action_space_rng"])
            best, self.next_eval = float(cp.state["eval"]["best_mean"]), int(cp.state["eval"]["next_eval"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint '{cp.path}' has a corrupt state.json ({e})") from None
        if int(self.model.num_timesteps) != cp.step:
            raise CheckpointError(
                f"checkpoint '{cp.path}' is inconsistent: model at step "
                f"{self.model.num_timesteps}, state.json says {cp.step}"
            )
        self.evals = EvalLog.load(self.dir / "evaluations.npz", cp.step, best)


# -------------------------------------------------------------------- entry points
def default_run_name(config: TrainConfig) -> str:
    env = config.env_id.replace("/", "-")
    return f"{config.algo}-{env}-s{config.seed}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


class RunLock:
    """An exclusive lock on a run folder for as long as a process trains it (released on any exit)."""

    def __init__(self, run_dir: Path) -> None:
        self.fd = os.open(run_dir / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise CheckpointError(f"run '{run_dir}' is being trained by another process") from None


def start(
    config: TrainConfig,
    out: Path,
    name: str | None,
    command: str,
    on_progress: Callable[[int, float | None], None] | None = None,
) -> Run:
    """Create a run folder for ``config`` and return the Run, ready to ``train``.

    Everything that can be wrong with the input is checked before the folder is created.
    """
    model, venv = Run.build(config)  # validates hyper-parameters and env
    run_dir = out / (name or default_run_name(config))
    if run_dir.exists():
        raise ConfigError(f"run folder '{run_dir}' already exists", "choose another --name or --out")
    try:
        run_dir.mkdir(parents=True)
    except OSError as e:
        raise ConfigError(f"cannot create run folder '{run_dir}': {e.strerror}") from None
    if config.param_samples is not None:  # the run keeps its own copy of the samples it trains on
        shutil.copyfile(config.param_samples, run_dir / "param_samples.npz")
        config = dataclasses.replace(config, param_samples="param_samples.npz")
    run = Run(run_dir, config, model, venv, {})
    run.lock = RunLock(run_dir)
    atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    atomic.write_text(run_dir / "command.txt", command + "\n")
    run.write_meta(
        status="running",
        algo=config.algo,
        env_id=config.env_id,
        seed=config.seed,
        timesteps_done=0,
        timesteps_total=run.total,
        timesteps_requested=config.timesteps,
        checkpoints=[{"pct": p, "step": s} for p, s in run.plan],
        created=now(),
        started=now(),
        finished=None,
        resumes=0,
        wall_time_s=0.0,
        versions=versions(),
        git_commit=git_commit(),
    )
    baseline = random_baseline(
        config.env_id, config.eval_episodes, params=config.env_params, env_kwargs=config.env_kwargs
    )
    baseline.save(run_dir / "random_baseline.npz")
    run.write_meta(random_mean_reward=baseline.mean)
    model.set_logger(_logger(run_dir))
    if on_progress:
        run.on_progress = on_progress
    return run


def _logger(run_dir: Path):
    from simrl.utils.logging import make_logger

    return make_logger(run_dir)


def load_run_config(run_dir: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and meta of a run folder, or a CheckpointError saying it is not one."""
    from simrl.experiments.config import read_yaml

    if not run_dir.is_dir():
        raise CheckpointError(f"'{run_dir}' is not a folder")
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "meta.json").is_file():
        raise CheckpointError(f"'{run_dir}' is not a simrl run folder", "expected config.yaml and meta.json")
    doc = read_yaml(run_dir / "config.yaml", "run config")
    if not isinstance(doc, dict):
        raise CheckpointError(f"'{run_dir}/config.yaml' does not describe a run")
    try:
        meta = json.loads((run_dir / "meta.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"'{run_dir}/meta.json' is corrupt") from None
    return TrainConfig.from_dict(doc), meta


def resume(run_dir: Path, on_progress: Callable[[int, float | None], None] | None = None) -> Run:
    """Reopen a run folder at its newest complete checkpoint (or its start if it has none).

    Checks everything (config, checkpoint files, buffer shapes) before changing anything on disk.
    """
    from simrl.rl.io import read_model_info

    config, meta = load_run_config(run_dir)
    if config.env_kwargs:  # a bad value in an edited config.yaml fails here, before the folder changes
        from simrl.envs.vec import check_env_kwargs

        check_env_kwargs(config.env_id, config.env_kwargs)
    if meta.get("status") == "done":
        raise CheckpointError(
            f"run '{run_dir}' is already complete "
            f"({meta.get('timesteps_done')} of {meta.get('timesteps_total')} timesteps)"
        )
    lock = RunLock(run_dir)
    model, venv = Run.build(config, run_dir)
    run = Run(run_dir, config, model, venv, meta)
    run.lock = lock
    cps = ckpt.complete(run_dir)
    cp = None
    if cps:
        try:
            cp = ckpt.read(cps[-1])
            read_model_info(cp.path / "model.zip")
            run.restore(cp)  # raises before anything is written
        except CheckpointError as e:
            earlier = (
                f"remove {cps[-1]} to resume from the checkpoint before it"
                if len(cps) > 1
                else ("no earlier checkpoint exists")
            )
            raise CheckpointError(e.what, earlier) from None
    # From here on the folder changes: drop what was logged after the checkpoint.
    ckpt.clean_partial(run_dir)
    step = cp.step if cp else 0
    from simrl.utils.logging import truncate_progress

    truncate_progress(run_dir / "progress.csv", step)
    if cp is None:
        for name in ("evaluations.npz", "best_model.zip"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "tensorboard", ignore_errors=True)
    else:
        run.evals.save(run_dir / "evaluations.npz")
    run.write_meta(
        status="running",
        timesteps_done=step,
        resumes=int(meta.get("resumes", 0)) + 1,
        resumed_from=cp.pct if cp else None,
    )
    model.set_logger(_logger(run_dir))
    if on_progress:
        run.on_progress = on_progress
    return run


def mark_failed(run: Run, error: BaseException) -> None:
    run.write_meta(status="failed", error=f"{type(error).__name__}: {error}"[:500])
