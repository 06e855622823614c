"""Training runs: any ``Trainer`` driven through segments, evaluations and checkpoints in a run folder.

Training proceeds in segments, one ``Trainer.learn`` call per checkpoint. The trainer makes a
segment start reproducible (the SB3 trainer reseeds and resets its env from (seed, step)); with its
declared state and the global random states restored from the checkpoint, a resumed run continues
exactly as the uninterrupted one would have.

A crash anywhere in a run marks its folder ``failed``, Ctrl-C or SIGTERM ``interrupted``; a callback
that returns False stops it and marks it ``stopped``; each is resumable from its newest checkpoint.
``Run.close`` releases the trainer's envs, the logger's files and the folder's lock; a ``Run`` is a
context manager that closes itself.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import CheckpointError, Interrupted
from simrl.evaluation.evaluate import EvalResult, evaluate, random_baseline
from simrl.experiments.config import TrainConfig
from simrl.experiments.runfolder import Checkpoint, EvalLog, RunFolder, now
from simrl.types import Trainer
from simrl.utils.seeding import global_rng_state, set_global_rng_state

Callback = Callable[[int, float | None], bool | None]
"""``callback(step, eval_mean)``: called where the policy has just been updated (``eval_mean`` None) and
after every evaluation (its mean). Returning False stops the run (an Optuna pruner's hook)."""


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


class Stopped(Exception):
    """Raised inside a trainer's callback to unwind when the caller asked the run to stop."""


@dataclass(frozen=True)
class RunSummary:
    """What a finished (or stopped) run reached: the handle the Python API returns."""

    dir: Path
    status: str
    timesteps: int
    timesteps_total: int
    final_mean: float | None
    best_mean: float | None
    random_mean: float | None
    wall_time_s: float


class Run:
    """A run folder being trained: its config, its trainer, its evaluations."""

    def __init__(self, folder: RunFolder, config: TrainConfig, trainer: Trainer, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.dir = folder.path
        self.config = config
        self.trainer = trainer
        self.meta = meta
        self.total, self.plan = schedule(config.timesteps, trainer.step_unit, config.checkpoints)
        trainer.set_total_timesteps(self.total)
        self.evals = EvalLog()
        self.next_eval = config.eval_freq
        self.callback: Callback = lambda step, mean: None
        self.logger: Any = None
        self.stop_requested = False
        self._closed = False
        self.eval_seconds = 0.0  # wall time spent evaluating, over the run's life (resumes included)
        self._clock: tuple[float, float] | None = None  # (monotonic start of this process's training, wall before)

    # ---------------------------------------------------------------- files
    def write_meta(self, **changes: Any) -> None:
        self.folder.write_meta(self.meta, **changes)

    def wall_time(self) -> float:
        """Seconds of training so far, over every process that trained the run."""
        if self._clock is None:
            return float(self.meta.get("wall_time_s", 0.0))
        started, before = self._clock
        return before + time.monotonic() - started

    def evaluate_now(self) -> EvalResult:
        c = self.config
        started = time.monotonic()
        result = evaluate(
            self.trainer.policy(), c.env_id, c.eval_episodes, params=c.env_params, env_kwargs=c.eval_kwargs
        )
        self.eval_seconds += time.monotonic() - started
        return result

    def record_eval(self, step: int, result: EvalResult) -> bool:
        """Log an evaluation (and the best policy); returns what the callback said (False: stop)."""
        if self.evals.add(step, result, train_seconds=self.wall_time() - self.eval_seconds):
            self.trainer.save_policy(self.folder.best_policy(self.trainer.policy_file))
        self.folder.save_evals(self.evals)
        if self.logger is not None:
            self.logger.record("eval/mean_reward", result.mean)
            self.logger.record("eval/std_reward", result.std)
            self.logger.record("eval/mean_ep_length", float(np.mean(result.lengths)))
        while self.next_eval <= step:
            self.next_eval += self.config.eval_freq
        return self.callback(step, result.mean) is not False

    def _at_update(self, step: int) -> bool:
        go_on = self.callback(step, None) is not False
        if go_on and step >= self.next_eval:
            go_on = self.record_eval(step, self.evaluate_now())
        if not go_on:
            self.stop_requested = True
        return go_on

    def write_checkpoint(self, pct: int, step: int, result: EvalResult) -> None:
        state = {
            "step": step,
            "pct": pct,
            "timesteps_total": self.total,
            "rng": global_rng_state(),
            "eval": {"best_mean": self.evals.best_mean, "next_eval": self.next_eval, "seconds": self.eval_seconds},
            "time": now(),
        }

        def write(folder: Path) -> dict[str, Any]:
            result.save(folder / "eval.npz")
            return self.trainer.save(folder)

        self.folder.write_checkpoint(pct, state, write, (*self.trainer.state_files(), "eval.npz"))

    # ---------------------------------------------------------------- training
    def train(self, callback: Callback | None = None) -> RunSummary:
        """Train to the full timestep count (or until ``callback`` returns False), then close the run.

        Any exception marks the run failed (and is raised again).
        """
        if callback is not None:
            self.callback = callback
        try:
            self._train()
        except BaseException as e:
            self.mark_ended(e)
            raise
        finally:
            self.close()
        return self.summary()

    def _train(self) -> None:
        started = time.monotonic()
        wall_before = float(self.meta.get("wall_time_s", 0.0))
        self._clock = (started, wall_before)
        self.stop_requested = False
        for pct, step in self.plan:
            if step <= self.trainer.num_timesteps:
                continue
            self.trainer.learn(step, self._at_update)
            if self.stop_requested:
                self.write_meta(
                    status="stopped",
                    stopped_at=self.trainer.num_timesteps,
                    wall_time_s=round(wall_before + time.monotonic() - started, 3),
                    finished=now(),
                )
                return
            step = self.trainer.num_timesteps
            if self.evals.timesteps and self.evals.timesteps[-1] == step:
                result = self.evals.last
            else:
                result = self.evaluate_now()
                if not self.record_eval(step, result):
                    self.stop_requested = True
            if self.logger is not None:
                self.logger.dump(step)
            self.write_checkpoint(pct, step, result)
            self.write_meta(
                timesteps_done=step,
                last_checkpoint=pct,
                wall_time_s=round(wall_before + time.monotonic() - started, 3),
                best_mean_reward=self.evals.best_mean,
                last_mean_reward=result.mean,
            )
            if self.stop_requested and step < self.total:
                self.write_meta(status="stopped", stopped_at=step, finished=now())
                return
        self.write_meta(status="done", finished=now())

    def restore(self, cp: Checkpoint) -> None:
        """Load a checkpoint's trainer state, random and evaluation states into this run."""
        self.trainer.restore(cp.path, cp.state.get("trainer", cp.state))
        try:
            set_global_rng_state(cp.state["rng"])
            best, self.next_eval = float(cp.state["eval"]["best_mean"]), int(cp.state["eval"]["next_eval"])
            self.eval_seconds = float(cp.state["eval"].get("seconds", 0.0))
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"checkpoint '{cp.path}' has a corrupt state.json ({e})") from None
        if self.trainer.num_timesteps != cp.step:
            raise CheckpointError(
                f"checkpoint '{cp.path}' is inconsistent: model at step "
                f"{self.trainer.num_timesteps}, state.json says {cp.step}"
            )
        self.evals = self.folder.load_evals(cp.step, best)

    def mark_ended(self, error: BaseException) -> None:
        """Say in meta.json how the run ended early: ``interrupted`` (Ctrl-C, SIGTERM) or ``failed``."""
        if self.meta.get("status") not in (None, "running"):
            return
        if isinstance(error, KeyboardInterrupt | Interrupted):
            self.write_meta(status="interrupted", interrupted_at=self.trainer.num_timesteps, finished=now())
        else:
            self.write_meta(status="failed", error=f"{type(error).__name__}: {error}"[:500], finished=now())

    def summary(self) -> RunSummary:
        last = self.evals.last
        return RunSummary(
            dir=self.dir,
            status=str(self.meta.get("status")),
            timesteps=int(self.meta.get("timesteps_done", 0)),
            timesteps_total=self.total,
            final_mean=last.mean if last is not None else None,
            best_mean=self.evals.best_mean if last is not None else None,
            random_mean=self.meta.get("random_mean_reward"),
            wall_time_s=float(self.meta.get("wall_time_s", 0.0)),
        )

    def close(self) -> None:
        """Release the trainer's envs, the logger's files and the folder's lock (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.trainer.close()
            if self.logger is not None:
                self.logger.close()
        finally:
            self.folder.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -------------------------------------------------------------------- entry points
def default_run_name(config: TrainConfig) -> str:
    env = config.env_id.replace("/", "-")
    return f"{config.algo}-{env}-s{config.seed}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def build_trainer(config: TrainConfig, base: Path | None = None, *, for_training: bool = True) -> Trainer:
    from simrl.experiments.kinds import get_kind

    return get_kind(config.kind).build(config, base, for_training=for_training)


def start(config: TrainConfig, out: Path, name: str | None, command: str) -> Run:
    """Create a run folder for ``config`` and return the Run, ready to ``train``.

    Everything that can be wrong with the input is checked before the folder is created; a crash
    after that (the random baseline, say) marks the folder failed.
    """
    trainer = build_trainer(config)  # validates hyper-parameters and env
    run_dir = Path(out) / (name or default_run_name(config))
    copies = {}
    if config.param_samples is not None:  # the run keeps its own copy of the samples it trains on
        copies["param_samples.npz"] = Path(config.param_samples)
        config = dataclasses.replace(config, param_samples="param_samples.npz")
    if config.demos is not None:  # and of the demonstrations it learns from
        copies["demos.npz"] = Path(config.demos)
        config = dataclasses.replace(config, demos="demos.npz")
    if config.expert_policy is not None:  # and of the expert it queries (which may change where it lives)
        expert_copy = "expert" + Path(config.expert_policy).suffix
        copies[expert_copy] = Path(config.expert_policy)
        config = dataclasses.replace(config, expert_policy=expert_copy)
    total, plan = schedule(config.timesteps, trainer.step_unit, config.checkpoints)
    meta = {
        "status": "running",
        "kind": config.kind,
        "algo": config.algo,
        "env_id": config.env_id,
        "seed": config.seed,
        "timesteps_done": 0,
        "timesteps_total": total,
        "timesteps_requested": config.timesteps,
        "checkpoints": [{"pct": p, "step": s} for p, s in plan],
        "created": now(),
        "started": now(),
        "finished": None,
        "resumes": 0,
        "wall_time_s": 0.0,
        "versions": versions(),
        "git_commit": git_commit(),
        "updated": now(),
    }
    try:
        folder = RunFolder.create(run_dir, config.to_dict(), command, meta, copies)
    except BaseException:
        trainer.close()
        raise
    run = Run(folder, config, trainer, meta)
    try:
        save_random_baseline(run)
        run.logger = _logger(run_dir)
        trainer.set_logger(run.logger)
    except BaseException as e:
        run.mark_ended(e)
        run.close()
        raise
    return run


def save_random_baseline(run: Run) -> None:
    """The random policy on the evaluation seeds: random_baseline.npz and meta's random_mean_reward."""
    c = run.config
    baseline = random_baseline(c.env_id, c.eval_episodes, params=c.env_params, env_kwargs=c.eval_kwargs)
    run.folder.save_baseline(baseline)
    run.write_meta(random_mean_reward=baseline.mean)


def _logger(run_dir: Path) -> Any:
    from simrl.utils.logging import make_logger

    return make_logger(run_dir)


def load_run_config(run_dir: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and meta of a run folder, or a CheckpointError saying it is not one."""
    folder = RunFolder.open(run_dir)
    return TrainConfig.from_dict(folder.read_config()), folder.read_meta()


def resume(run_dir: Path) -> Run:
    """Reopen a run folder at its newest complete checkpoint (or its start if it has none).

    Checks everything (config, checkpoint files, buffer shapes) before changing anything on disk.
    """
    config, meta = load_run_config(run_dir)
    if config.env_kwargs or config.eval_env_kwargs:  # a bad value in an edited config.yaml fails here
        from simrl.envs.vec import check_env_kwargs

        check_env_kwargs(config.env_id, config.env_kwargs)
        if config.eval_env_kwargs:
            check_env_kwargs(config.env_id, config.eval_kwargs)
    if meta.get("status") == "done":
        raise CheckpointError(
            f"run '{run_dir}' is already complete "
            f"({meta.get('timesteps_done')} of {meta.get('timesteps_total')} timesteps)"
        )
    folder = RunFolder(Path(run_dir))
    folder.lock()
    try:
        trainer = build_trainer(config, Path(run_dir))
    except BaseException:
        folder.close()
        raise
    run = Run(folder, config, trainer, meta)
    try:
        cp = _restore_newest(run)
        # From here on the folder changes: drop what was logged after the checkpoint.
        step = cp.step if cp else 0
        folder.rewind(step)
        if cp is not None:
            folder.save_evals(run.evals)
        run.write_meta(
            status="running",
            timesteps_done=step,
            resumes=int(meta.get("resumes", 0)) + 1,
            resumed_from=cp.pct if cp else None,
            error=None,
        )
        if not folder.has_baseline():  # killed between meta.json and the baseline, before any training
            save_random_baseline(run)
        run.logger = _logger(Path(run_dir))
        trainer.set_logger(run.logger)
    except BaseException:
        run.close()
        raise
    return run


def _restore_newest(run: Run) -> Checkpoint | None:
    cps = run.folder.checkpoints()
    if not cps:
        return None
    try:
        cp = run.folder.read_checkpoint(cps[-1])
        run.restore(cp)  # raises before anything is written
    except CheckpointError as e:
        earlier = (
            f"remove {cps[-1]} to resume from the checkpoint before it"
            if len(cps) > 1
            else "no earlier checkpoint exists"
        )
        raise CheckpointError(e.what, earlier) from None
    return cp
