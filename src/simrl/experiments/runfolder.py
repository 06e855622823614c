"""The run folder: the only code that writes and reads the format DESIGN.md lays out.

::

    <run>/
      config.yaml          the resolved configuration, with the learner's ``kind``
      command.txt          the command (or Python call) that started it
      meta.json            status (running|done|failed|stopped), steps, versions, times
      .lock                flock-ed while a process trains the run
      progress.csv  tensorboard/
      evaluations.npz      periodic evaluations (SB3 EvalCallback layout; plus the env's reward_* terms
                           and metric_* measures per episode)
      random_baseline.npz  the random policy on the same episode seeds
      checkpoints/<pct>/   the trainer's declared files, state.json (step, random and evaluation
                           states, the trainer's plain state, the list of files), eval.npz
      best_<policy file>   the policy of the best evaluation (best_model.zip for SB3)

Every file is written atomically; a checkpoint is written whole into a temporary folder and renamed
into place, so a crash leaves the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import io
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simrl.errors import CheckpointError, ConfigError
from simrl.evaluation.evaluate import EvalResult, is_info_key
from simrl.utils import atomic

CONFIG, META, COMMAND, LOCK = "config.yaml", "meta.json", "command.txt", ".lock"
EVALUATIONS, BASELINE, CHECKPOINTS = "evaluations.npz", "random_baseline.npz", "checkpoints"
STATE, CHECKPOINT_EVAL = "state.json", "eval.npz"
DEFAULT_KIND = "sb3"  # run folders written before kinds existed
# Files of the run folder that only the process training it (holding its lock) writes, besides best_*.
_TRAINING_FILES = (CONFIG, COMMAND, META, EVALUATIONS, BASELINE, "progress.csv")
# Files every checkpoint of a run written before state.json listed its files holds.
_LEGACY_FILES = ("model.zip",)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class EvalLog:
    """Periodic evaluations, in SB3's EvalCallback layout, and the best mean so far."""

    timesteps: list[int] = field(default_factory=list)
    results: list[np.ndarray] = field(default_factory=list)
    ep_lengths: list[np.ndarray] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    """The run's wall time when each evaluation was made, less the time spent evaluating (NaN: unknown,
    a run written before it was kept). Timing, so never part of a bit-for-bit comparison."""
    info: dict[str, list[np.ndarray]] = field(default_factory=dict)
    """Info key (``reward_*``, ``metric_*``) -> per-episode values of each evaluation (NaN where an
    evaluation lacked the key)."""
    best_mean: float = -math.inf

    def add(self, step: int, result: EvalResult, train_seconds: float = math.nan) -> bool:
        """Record an evaluation; True when it is the best so far."""
        n = len(self.timesteps)
        self.timesteps.append(step)
        self.results.append(result.returns)
        self.ep_lengths.append(result.lengths)
        self.train_seconds.append(float(train_seconds))
        for key in [*self.info, *(k for k in result.info if k not in self.info)]:
            rows = self.info.setdefault(key, [np.full(len(r), np.nan) for r in self.results[:n]])
            rows.append(np.asarray(result.info.get(key, np.full(len(result.returns), np.nan)), dtype=np.float64))
        if result.mean > self.best_mean:
            self.best_mean = result.mean
            return True
        return False

    @property
    def last(self) -> EvalResult | None:
        if not self.timesteps:
            return None
        return EvalResult(self.results[-1], self.ep_lengths[-1], {k: v[-1] for k, v in self.info.items()})


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    pct: int
    step: int
    state: dict[str, Any]


class RunFolder:
    """A run folder on disk. ``create`` makes a new one, ``open`` reads an existing one."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------------------ life cycle
    @classmethod
    def create(
        cls, path: Path, config: dict[str, Any], command: str, meta: dict[str, Any], copies: dict[str, Path]
    ) -> RunFolder:
        """Make the folder whole (it must not exist) with config.yaml, command.txt, meta.json and the
        files of ``copies`` (name in the folder -> source), and lock it.

        Everything is written into a temporary folder that is then renamed into place, so a kill at any
        moment leaves either no run folder or one that ``resume`` can read.
        """
        path = Path(path)

        def fill(tmp: Path) -> None:
            atomic.write_text(tmp / CONFIG, yaml.safe_dump(config, sort_keys=False))
            atomic.write_text(tmp / COMMAND, command + "\n")
            for name, source in copies.items():
                shutil.copyfile(source, tmp / name)
            atomic.write_json(tmp / META, meta)

        try:
            atomic.new_dir(path, fill)
        except FileExistsError:
            raise ConfigError(f"run folder '{path}' already exists", "choose another --name or --out") from None
        except OSError as e:
            raise ConfigError(f"cannot create run folder '{path}': {e.strerror}") from None
        folder = cls(path)
        folder.lock()
        return folder

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An existing run folder, or a CheckpointError saying it is not one."""
        path = Path(path)
        if not path.is_dir():
            raise CheckpointError(f"'{path}' is not a folder")
        if not (path / CONFIG).is_file() or not (path / META).is_file():
            raise CheckpointError(f"'{path}' is not a simrl run folder", "expected config.yaml and meta.json")
        return cls(path)

    @staticmethod
    def is_run(path: Path) -> bool:
        return Path(path).is_dir() and (Path(path) / CONFIG).is_file() and (Path(path) / META).is_file()

    def lock(self) -> None:
        """Take the folder's exclusive lock (released by ``close`` or when the process exits)."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / LOCK, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CheckpointError(f"run '{self.path}' is being trained by another process") from None
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    # ------------------------------------------------------------------------------ config, meta
    def read_config(self) -> dict[str, Any]:
        from simrl.experiments.hyperparams import read_yaml

        doc = read_yaml(self.path / CONFIG, "run config")
        if not isinstance(doc, dict):
            raise CheckpointError(f"'{self.path}/{CONFIG}' does not describe a run")
        return doc

    @property
    def kind(self) -> str:
        return str(self.read_config().get("kind") or DEFAULT_KIND)

    @property
    def algo(self) -> str:
        return str(self.read_config().get("algo") or "")

    def read_meta(self) -> dict[str, Any]:
        try:
            meta = json.loads((self.path / META).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            raise CheckpointError(f"'{self.path}/{META}' is corrupt") from None
        if not isinstance(meta, dict):
            raise CheckpointError(f"'{self.path}/{META}' is corrupt")
        return meta

    def write_meta(self, meta: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Update ``meta`` in place with ``changes`` and the time, and write it."""
        meta.update(changes, updated=now())
        atomic.write_json(self.path / META, meta)
        return meta

    def command(self) -> str | None:
        path = self.path / COMMAND
        return path.read_text().strip() if path.is_file() else None

    # ------------------------------------------------------------------------------ evaluations
    def save_evals(self, log: EvalLog) -> None:
        buf = io.BytesIO()
        n = len(log.timesteps)
        np.savez(
            buf,
            timesteps=np.array(log.timesteps, dtype=np.int64),
            results=np.array(log.results, dtype=np.float64).reshape(n, -1),
            ep_lengths=np.array(log.ep_lengths, dtype=np.int64).reshape(n, -1),
            train_seconds=np.array(log.train_seconds, dtype=np.float64),
            **{k: np.array(v, dtype=np.float64).reshape(n, -1) for k, v in log.info.items()},
        )
        atomic.write_bytes(self.path / EVALUATIONS, buf.getvalue())

    def load_evals(self, max_step: int | None = None, best_mean: float = -math.inf) -> EvalLog:
        """The evaluations logged at or before ``max_step`` (all when None)."""
        log = EvalLog(best_mean=best_mean)
        path = self.path / EVALUATIONS
        if path.is_file():
            ev = read_npz(path, ("timesteps", "results", "ep_lengths"), optional=("train_seconds",), info=True)
            seconds = ev.get("train_seconds", np.full(len(ev["timesteps"]), np.nan))
            info = {k: v for k, v in ev.items() if is_info_key(k) and v.shape == ev["results"].shape}
            rows = zip(ev["timesteps"], ev["results"], ev["ep_lengths"], seconds, strict=True)
            for i, (t, r, n, s) in enumerate(rows):
                if max_step is None or t <= max_step:
                    log.timesteps.append(int(t))
                    log.results.append(r)
                    log.ep_lengths.append(n)
                    log.train_seconds.append(float(s))
                    for k, v in info.items():
                        log.info.setdefault(k, []).append(v[i])
        return log

    def save_baseline(self, result: EvalResult) -> None:
        result.save(self.path / BASELINE)

    def has_baseline(self) -> bool:
        return (self.path / BASELINE).is_file()

    def read_baseline(self) -> EvalResult:
        """The random policy's evaluation (its info terms when the run kept them)."""
        try:
            return EvalResult.from_arrays(read_npz(self.path / BASELINE, ("results",), info=True))
        except FileNotFoundError:
            raise CheckpointError(f"run '{self.path}' has no {BASELINE}") from None

    # ------------------------------------------------------------------------------ checkpoints
    def checkpoint_dir(self, pct: int) -> Path:
        return self.path / CHECKPOINTS / f"{pct:03d}"

    def write_checkpoint(
        self, pct: int, state: dict[str, Any], write: Callable[[Path], dict[str, Any]], files: tuple[str, ...]
    ) -> Path:
        """Write checkpoint ``pct`` atomically: ``write(folder)`` writes ``files`` and returns the
        trainer's plain state; state.json (``state`` with it and the file list) is written last."""
        final = self.checkpoint_dir(pct)
        with atomic.atomic_dir(final) as tmp:
            trainer_state = write(tmp)
            missing = [f for f in files if not (tmp / f).is_file()]
            if missing:  # a trainer that does not write what it declares is a bug, not a user mistake
                raise RuntimeError(f"the trainer declared {', '.join(missing)} but did not write it")
            atomic.write_json(tmp / STATE, {**state, "trainer": trainer_state, "files": list(files)})
        return final

    def checkpoints(self) -> list[Path]:
        """Complete checkpoint folders, oldest first (temporary and partial ones are ignored)."""
        root = self.path / CHECKPOINTS
        if not root.is_dir():
            return []
        dirs = [p for p in root.iterdir() if p.is_dir() and p.name.isdigit() and (p / STATE).is_file()]
        return sorted(dirs, key=lambda p: int(p.name))

    def read_checkpoint(self, path: Path) -> Checkpoint:
        """A checkpoint's state, once every file it lists is there."""
        try:
            state = json.loads((path / STATE).read_text())
            files = state.get("files", _LEGACY_FILES)
            step = int(state["step"])
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint '{path}' is incomplete: {STATE} is missing") from None
        except (json.JSONDecodeError, KeyError, ValueError, TypeError, UnicodeDecodeError, AttributeError):
            raise CheckpointError(f"checkpoint '{path}' has a corrupt {STATE}", "use another checkpoint") from None
        for name in files:
            if not (path / str(name)).is_file():
                raise CheckpointError(f"checkpoint '{path}' is incomplete: {name} is missing")
        return Checkpoint(path=path, pct=int(path.name), step=step, state=state)

    def checkpoint_evals(self) -> list[tuple[Checkpoint, EvalResult]]:
        """Each complete checkpoint with its evaluation (those that have one)."""
        out = []
        for path in self.checkpoints():
            if (path / CHECKPOINT_EVAL).is_file():
                arrays = read_npz(path / CHECKPOINT_EVAL, ("results",), info=True)
                out.append((self.read_checkpoint(path), EvalResult.from_arrays(arrays)))
        return out

    def clean_partial(self) -> None:
        """Remove what a crash left half-written: temporary checkpoint folders, and the temporary files
        (``.<name>.*.tmp``, ``atomic.write_bytes``) of the files only training writes; other commands'
        files in the folder (report.html, plots, ...) are not the lock holder's to touch."""
        root = self.path / CHECKPOINTS
        if root.is_dir():
            for p in root.iterdir():
                if p.name.startswith("."):
                    shutil.rmtree(p, ignore_errors=True)
        for p in self.path.glob(".*.tmp"):
            name = p.name[1:].rsplit(".", 2)[0]
            if p.is_file() and (name in _TRAINING_FILES or name.startswith("best_")):
                p.unlink(missing_ok=True)

    def rewind(self, step: int) -> None:
        """Drop what was logged after ``step`` (a resume from the checkpoint at ``step``; 0: the start)."""
        from simrl.utils.logging import truncate_progress

        self.clean_partial()
        truncate_progress(self.path / "progress.csv", step)
        if step == 0:
            (self.path / EVALUATIONS).unlink(missing_ok=True)
            for best in self.path.glob("best_*"):
                best.unlink()
            shutil.rmtree(self.path / "tensorboard", ignore_errors=True)

    # ------------------------------------------------------------------------------ policies
    def best_policy(self, policy_file: str) -> Path:
        return self.path / f"best_{policy_file}"

    def policy_path(self, which: str, policy_file: str) -> Path:
        """The saved policy ``which``: ``best``, ``final`` (newest checkpoint) or a percentage."""
        if which == "best":
            if self.best_policy(policy_file).is_file():
                return self.best_policy(policy_file)
            which = "final"
        cps = self.checkpoints()
        if which == "final":
            if not cps:
                raise CheckpointError(f"run '{self.path}' has no model yet", "wait for its first checkpoint")
            return cps[-1] / policy_file
        try:
            pct = int(which)
        except ValueError:
            raise ConfigError(f"--model must be best, final or a checkpoint percentage, got '{which}'") from None
        path = self.checkpoint_dir(pct) / policy_file
        if not path.is_file():
            have = ", ".join(p.name for p in cps) or "none"
            raise CheckpointError(f"run '{self.path}' has no checkpoint {pct}", f"checkpoints: {have}")
        return path


def read_npz(
    path: Path, keys: tuple[str, ...], optional: tuple[str, ...] = (), *, info: bool = False
) -> dict[str, np.ndarray]:
    """Arrays of an npz written by simrl (no pickles); FileNotFoundError when missing, else CheckpointError.

    ``optional`` keys are read when the file has them (arrays added to a format later); with ``info``,
    so are the evaluation's ``reward_*`` and ``metric_*`` arrays.
    """
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as npz:
            extra = [k for k in npz.files if info and is_info_key(k)]
            arrays = {k: npz[k] for k in (*keys, *(o for o in optional if o in npz.files), *extra)}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"'{path}' is truncated or corrupt ({type(e).__name__})") from None
    for k in extra:  # an env's terms and measures are numbers; anything else was not written by simrl
        if arrays[k].dtype.kind not in "fiub":
            raise CheckpointError(f"'{path}' is corrupt: '{k}' holds {arrays[k].dtype} values, not numbers")
    return arrays
