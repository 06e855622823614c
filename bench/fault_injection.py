"""Fault injection: SIGKILL training at random moments and inside checkpoint writes, resume, compare bit for bit.

    python bench/fault_injection.py [--kills 20] [--seed 0] [--algo sac|ppo] [--timesteps N]
                                    [--resume-kills 0] [--workdir DIR] [--keep]

First one uninterrupted reference run of ``simrl train`` (small settings, ten checkpoints), watched
from outside: when its run folder, meta.json, random baseline and each checkpoint appear, and how
long a checkpoint's temporary folder lives. Then ``--kills`` trials, each in a fresh folder: the same
training, killed with SIGKILL (its whole process group) at a moment drawn with ``--seed``, then
``simrl resume RUN`` to the end (``--resume-kills N``: kill N resumes first, at random times).
Half the trials are killed at random times, the other half aimed at writes:

- ``time``: a moment drawn uniformly over the reference's run-folder lifetime (from the moment its
  folder appeared to its end; before that there is no folder to resume, only a command to re-run),
  taken as a delay after the newest thing the folder held then (the folder, meta.json, the random
  baseline, checkpoint NNN), so that the kill follows the run's progress, not the machine's load;
- ``ckpt-dir``: armed at a moment drawn likewise (up to the last checkpoint's write), killed when
  the next temporary checkpoint folder (``checkpoints/.NNN.*.tmp``, ``simrl.utils.atomic.atomic_dir``)
  appears, plus a jitter drawn over the reference's measured lifetime of such a folder;
- ``ckpt-file``: armed likewise, killed the moment a file is being written inside that folder
  (``.eval.npz.*.tmp``, ``.model.zip.*.tmp``, ...: ``atomic.write_bytes``);
- ``run-file``: armed likewise, killed the moment a file of the run folder itself is being written
  (``.meta.json.*.tmp``, ``.evaluations.npz.*.tmp``, ``.best_model.zip.*.tmp``, ...).

What was on disk is read once the process is dead (what ``resume`` meets): complete checkpoints,
temporary folders and files, meta.json's status. A kill "hit a checkpoint write" when it left a
temporary checkpoint folder. A trial passes when resume exits 0 (or, for a kill after meta.json said
done, refuses with "already complete", exit 2), meta.json then says done at the full step count, no
temporary folder or file is left, and these equal the reference's bit for bit: every tensor of every
checkpoint's model.zip and of best_model.zip, every array of evaluations.npz, random_baseline.npz and
the checkpoints' replay buffers and eval.npz, and every checkpoint's state.json but its time stamp
(the RNG and evaluation states). Prints a table and "N/N equal"; writes bench/results/fault_injection.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "fault_injection.json"
ENV = "simrl/Pendulum-v0"
CHECKPOINTS = "10,20,30,40,50,60,70,80,90,100"
TIMESTEPS = {"sac": 2000, "ppo": 24576}
SMALL = {
    "sac": [
        *["--seed", "2", "--set", "learning_starts=50", "--set", "batch_size=32"],
        *["--set", "policy_kwargs={net_arch: [32, 32]}", "--eval-episodes", "2"],
    ],
    "ppo": [
        *["--seed", "2", "--n-envs", "4"],
        *["--set", "n_steps=32", "--set", "batch_size=64", "--set", "n_epochs=2"],
        *["--set", "policy_kwargs={net_arch: [32, 32]}", "--set", "learning_rate=lin_1e-3", "--eval-episodes", "2"],
    ],
}
KINDS = ("time", "ckpt-dir", "ckpt-file", "run-file")
POLL_S = 0.0002


def cli(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "simrl.cli", *map(str, args)]


def train_command(algo: str, run: Path, timesteps: int | None = None, checkpoints: str = CHECKPOINTS) -> list[str]:
    """``simrl train`` of ``algo`` with small settings into the run folder ``run``."""
    steps = str(timesteps or TIMESTEPS[algo])
    return cli(
        "train", algo, ENV, "--timesteps", steps, *SMALL[algo], "--checkpoints", checkpoints,
        "--out", run.parent, "--name", run.name,
    )  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "MPLBACKEND": "Agg", "SDL_VIDEODRIVER": "dummy"}


# ---------------------------------------------------------------------------------------- the disk
def _is_temp(name: str) -> bool:
    return name.startswith(".") and name != ".lock"


def _short(name: str) -> str:
    """``.model.zip.x1y2.tmp`` -> ``model.zip~`` (being written); other names as they are."""
    return name[1:].rsplit(".", 2)[0] + "~" if _is_temp(name) and name.endswith(".tmp") else name


def _names(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


@dataclass
class Disk:
    """What a run folder holds: what a resume meets after a kill."""

    folder: bool
    meta: bool
    status: str | None  # meta.json's
    baseline: bool
    checkpoints: list[int]  # complete ones (state.json written, folder renamed into place)
    temp_dirs: dict[str, list[str]]  # checkpoints/.NNN.*.tmp (a checkpoint being written) -> what it holds
    temp_files: list[str]  # .<name>.*.tmp in the run folder: a file being written

    @property
    def in_checkpoint_write(self) -> bool:
        return bool(self.temp_dirs)

    def describe(self) -> str:
        if not self.folder:
            return "no run folder"
        parts = [f"cp {self.checkpoints[0]}-{self.checkpoints[-1]}" if self.checkpoints else "no cp"]
        if not self.meta:
            parts.append("no meta.json")
        elif not self.baseline:
            parts.append("no baseline")
        if self.status not in (None, "running"):
            parts.append(str(self.status))
        parts += [f"{_short(d)}{{{','.join(map(_short, files))}}}" for d, files in self.temp_dirs.items()]
        parts += [_short(f) for f in self.temp_files]
        return " ".join(parts)


def observe(run: Path) -> Disk:
    root = _names(run)
    cps = run / "checkpoints"
    complete, temp_dirs = [], {}
    for name in _names(cps):
        if name.isdigit() and (cps / name / "state.json").is_file():
            complete.append(int(name))
        elif name.startswith("."):
            temp_dirs[name] = _names(cps / name)
    temp_files = [n for n in root if _is_temp(n)]
    status = None
    if "meta.json" in root:
        try:
            status = json.loads((run / "meta.json").read_text()).get("status")
        except (OSError, ValueError):
            status = "unreadable"
    return Disk(
        bool(root), "meta.json" in root, status, "random_baseline.npz" in root, sorted(complete), temp_dirs, temp_files
    )


def _sighting(run: Path, kind: str) -> str | None:
    """The first thing of ``kind`` on disk now, or None."""
    if kind == "run-file":
        return next((n for n in _names(run) if _is_temp(n)), None)
    cps = run / "checkpoints"
    for name in _names(cps):
        if name.startswith("."):
            if kind == "ckpt-dir":
                return name
            busy = next((f for f in _names(cps / name) if _is_temp(f)), None)
            if busy:
                return f"{name}/{busy}"
    return None


# ---------------------------------------------------------------------------------------- a watched process
@dataclass
class Moment:
    """When to kill: ``time``, at ``delay`` s after the start; other kinds: armed at ``delay``, killed at the
    first sighting of their kind plus ``jitter`` s. With ``after`` (a path in the run folder), ``delay``
    counts from the moment that path appears instead of from the start."""

    kind: str
    delay: float
    jitter: float = 0.0
    after: str | None = None


@dataclass
class Watched:
    returncode: int | None  # None: killed
    seconds: float
    killed_at: float | None = None
    sighted: str | None = None
    timeline: dict[str, float] = field(default_factory=dict)  # first sighting of each thing (reference run)
    temp_lifetimes: list[float] = field(default_factory=list)  # how long each temporary checkpoint folder lived
    stderr: str = ""


def run_watched(cmd: list[str], run: Path, moment: Moment | None = None, *, timeout: float = 600) -> Watched:
    """Run ``cmd`` (which trains ``run``), watching its folder; SIGKILL its process group at ``moment``.

    Without a moment, record when things appear in the folder (the reference run)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=_env(), start_new_session=True)
        t0 = time.monotonic()
        timeline: dict[str, float] = {}
        temp_seen: dict[str, list[float]] = {}
        sighted, kill_at = None, None
        origin = 0.0 if moment is None or moment.after is None else None  # what ``delay`` counts from
        try:
            while proc.poll() is None:
                now = time.monotonic() - t0
                if now > timeout:
                    raise TimeoutError(f"{cmd} ran over {timeout} s")
                if moment is not None and origin is None:
                    if (run / moment.after).exists():
                        origin = now
                    else:
                        time.sleep(POLL_S)
                        continue
                if moment is None:
                    _record(run, now, timeline, temp_seen)
                elif kill_at is None and now < origin + moment.delay:
                    time.sleep(min(0.01, origin + moment.delay - now))  # not armed yet
                    continue
                elif kill_at is None and moment.kind == "time":
                    kill_at = now
                elif kill_at is None and (sighted := _sighting(run, moment.kind)) is not None:
                    kill_at = now + moment.jitter
                if kill_at is not None and now >= kill_at:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return Watched(None, now, killed_at=round(now, 4), sighted=sighted)
                time.sleep(POLL_S)
            seconds = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    lifetimes = [round(last - first, 5) for first, last in temp_seen.values()]
    return Watched(proc.returncode, seconds, timeline=timeline, temp_lifetimes=lifetimes, stderr=stderr)


def _record(run: Path, now: float, timeline: dict[str, float], temp_seen: dict[str, list[float]]) -> None:
    root = _names(run)
    if root and "folder" not in timeline:
        timeline["folder"] = round(now, 4)
    for name in ("meta.json", "random_baseline.npz"):
        if name not in timeline and name in root:
            timeline[name] = round(now, 4)
    cps = run / "checkpoints"
    for name in _names(cps):
        if name.startswith("."):
            temp_seen.setdefault(name, [now, now])[1] = now
        elif name.isdigit() and f"checkpoint {name}" not in timeline and (cps / name / "state.json").is_file():
            timeline[f"checkpoint {name}"] = round(now, 4)


# ---------------------------------------------------------------------------------------- comparing runs
def _pth_members(path: Path) -> dict[str, Any]:
    import torch

    with zipfile.ZipFile(path) as z:
        return {
            n: torch.load(io.BytesIO(z.read(n)), weights_only=True, map_location="cpu")
            for n in sorted(z.namelist())
            if n.endswith(".pth")
        }


def _npz(path: Path) -> dict[str, Any]:
    import numpy as np

    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k != "train_seconds"}  # timing is never bit for bit


def _state(path: Path) -> dict[str, Any]:
    state = json.loads(path.read_text())
    state.pop("time", None)
    state.get("eval", {}).pop("seconds", None)
    return state


def _bits(t: Any) -> Any:
    """A tensor's bytes (so that NaN equals the same NaN and -0.0 differs from 0.0)."""
    import torch

    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def same(a: Any, b: Any) -> bool:
    """Bit-for-bit equality of nested tensors, arrays, mappings, sequences and plain values."""
    import numpy as np
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
            return False
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and (a == b or (a != a and b != b))  # NaN equals NaN here


def compare_runs(ref: Path, run: Path) -> list[str]:
    """The files of ``run`` that differ from (or are missing beside) ``ref``'s; empty when all are equal."""
    pairs: list[tuple[str, Any]] = [
        ("best_model.zip", _pth_members),
        ("evaluations.npz", _npz),
        ("random_baseline.npz", _npz),
    ]
    for cp in sorted((ref / "checkpoints").iterdir()):
        if cp.name.isdigit():
            rel = f"checkpoints/{cp.name}"
            pairs += [(f"{rel}/model.zip", _pth_members), (f"{rel}/eval.npz", _npz), (f"{rel}/state.json", _state)]
            if (cp / "replay_buffer.npz").is_file():
                pairs.append((f"{rel}/replay_buffer.npz", _npz))
    bad = []
    for rel, load in pairs:
        if not (run / rel).is_file():
            bad.append(f"{rel} missing")
            continue
        try:
            equal = same(load(ref / rel), load(run / rel))
        except Exception as e:  # a corrupt file is a difference, reported by name
            bad.append(f"{rel} unreadable ({type(e).__name__})")
            continue
        if not equal:
            bad.append(f"{rel} differs")
    return bad


# ---------------------------------------------------------------------------------------- trials
@dataclass
class Reference:
    run: Path
    seconds: float
    timeline: dict[str, float]
    temp_lifetimes: list[float]

    @property
    def span(self) -> tuple[float, float]:
        """From the moment the run folder appeared to the end of the run."""
        return self.timeline.get("folder", 0.0), self.seconds

    @property
    def last_checkpoint_start(self) -> float:
        """Shortly before the last checkpoint's write begins: a watch armed later waits in vain."""
        done = [t for k, t in self.timeline.items() if k.startswith("checkpoint ")]
        return max(done) - max(self.temp_lifetimes, default=0.0) - 0.1 if done else self.seconds

    def anchor(self, at: float) -> tuple[str, float]:
        """The newest thing the reference's folder held at ``at`` s (a path in it) and how long before ``at``
        it appeared: a moment that follows the run's own progress, whatever its start-up and speed."""
        path = {"folder": ".", "meta.json": "meta.json", "random_baseline.npz": "random_baseline.npz"}
        events = [(t, path.get(k) or f"checkpoints/{k.split()[-1]}/state.json") for k, t in self.timeline.items()]
        t, newest = max((e for e in events if e[0] <= at), default=(0.0, "."))
        return newest, at - t

    @property
    def steps(self) -> int:
        return int(json.loads((self.run / "meta.json").read_text())["timesteps_total"])


def reference_run(cmd: list[str], run: Path) -> Reference:
    w = run_watched(cmd, run)
    if w.returncode != 0:
        raise RuntimeError(f"the reference run failed ({w.returncode}):\n{w.stderr[-2000:]}")
    return Reference(run, round(w.seconds, 3), w.timeline, w.temp_lifetimes)


def draw(rng: random.Random, kind: str, ref: Reference) -> Moment:
    """A moment of ``kind``: a time drawn over the reference's run-folder lifetime (``time``), or over that
    up to its last checkpoint write (when to arm a watch, with a jitter over a checkpoint folder's measured
    lifetime for ``ckpt-dir``); counted from what the folder held then (``Reference.anchor``)."""
    start, end = ref.span
    at = rng.uniform(start, end if kind == "time" else ref.last_checkpoint_start)
    after, delay = ref.anchor(at)
    jitter = round(rng.uniform(0, max(ref.temp_lifetimes, default=0.0)), 5) if kind == "ckpt-dir" else 0.0
    return Moment(kind, round(delay, 4), jitter, after)


@dataclass
class Kill:
    process: str  # train, or resume N
    kind: str
    armed_at_s: float  # after the start, or after ``after`` appeared
    after: str | None
    jitter_s: float
    killed_at_s: float  # after the start
    sighted: str | None  # what the watch saw (aimed kinds)
    attempts: int  # > 1: earlier draws found the process finished before the kill, and were drawn again
    on_disk: dict[str, Any]  # what the folder held once the process was dead
    summary: str
    in_checkpoint_write: bool


@dataclass
class Trial:
    index: int
    kills: list[Kill]
    resume_rc: int
    resume_s: float
    resume_error: str | None
    meta_status: str | None
    steps_done: int | None
    refused_as_complete: bool  # killed after meta.json said done: resume must refuse ("already complete")
    leftover_temp: list[str]  # temporary checkpoint folders left after the final resume
    stray_files: list[str]  # temporary files left in the run folder after the final resume
    mismatches: list[str]
    passed: bool

    @property
    def in_checkpoint_write(self) -> bool:
        return any(k.in_checkpoint_write for k in self.kills)


def kill_once(cmd: list[str], run: Path, draw_moment: Any, process: str) -> Kill | Watched:
    """Run ``cmd`` and kill it at ``draw_moment()``. A training that finished first is run again from
    scratch at a new draw; a resume that finished first is returned as it ended (its ``Watched``)."""
    for attempt in range(1, 6):
        if process == "train":
            shutil.rmtree(run, ignore_errors=True)
        m = draw_moment()
        w = run_watched(cmd, run, m)
        if w.killed_at is None and process != "train":
            return w
        if w.killed_at is not None:
            disk = observe(run)
            return Kill(
                process, m.kind, m.delay, m.after, m.jitter, w.killed_at, w.sighted, attempt,
                asdict(disk), disk.describe(), disk.in_checkpoint_write,
            )  # fmt: skip
    raise RuntimeError(f"no kill of {process} landed in 5 attempts")


def finish(index: int, ref: Reference, run: Path, kills: list[Kill], ended: Watched | None = None) -> Trial:
    """Resume the killed ``run`` to its end (unless a resume already ``ended`` it), check its folder and
    compare it with the reference."""
    if ended is None:
        t0 = time.monotonic()
        r = subprocess.run(cli("resume", run), capture_output=True, text=True, env=_env(), timeout=600)
        rc, resume_s, stderr = r.returncode, time.monotonic() - t0, r.stderr
    else:
        rc, resume_s, stderr = int(ended.returncode or 0), ended.seconds, ended.stderr
    after = observe(run)
    meta: dict[str, Any] = {}
    if (run / "meta.json").is_file():
        meta = json.loads((run / "meta.json").read_text())
    mismatches = compare_runs(ref.run, run)
    complete = bool(kills) and kills[-1].on_disk["status"] == "done"
    refused = rc == 2 and "already complete" in stderr
    passed = (
        (refused if complete else rc == 0)
        and meta.get("status") == "done"
        and meta.get("timesteps_done") == ref.steps
        and not after.temp_dirs
        and not after.temp_files
        and not mismatches
    )
    return Trial(
        index=index,
        kills=kills,
        resume_rc=rc,
        resume_s=round(resume_s, 3),
        resume_error=(stderr.strip().splitlines() or [""])[-1] if rc and not (complete and refused) else None,
        meta_status=meta.get("status"),
        steps_done=meta.get("timesteps_done"),
        refused_as_complete=complete and refused,
        leftover_temp=list(after.temp_dirs),
        stray_files=after.temp_files,
        mismatches=mismatches,
        passed=passed,
    )


def plan(kills: int, rng: random.Random) -> list[str]:
    """Half the kills at random times, the other half aimed at writes in turn: checkpoint folders,
    files inside them, files of the run folder."""
    aimed = kills // 2
    kinds = ["time"] * (kills - aimed) + [KINDS[1 + i % 3] for i in range(aimed)]
    rng.shuffle(kinds)
    return kinds


def problems(t: Trial) -> str:
    out = [*([t.resume_error] if t.resume_error else []), *t.mismatches[:3]]
    if t.refused_as_complete:
        out.insert(0, "(complete at the kill: resume refused, as it should)")
    if len(t.mismatches) > 3:
        out.append(f"+{len(t.mismatches) - 3} more")
    out += [f"left {p}" for p in t.leftover_temp] + [f"stray {p}" for p in t.stray_files]
    return "; ".join(out)


def print_table(trials: list[Trial]) -> None:
    print(f"{'#':>3} {'kill':9} {'at s':>7}  {'on disk after the kill':56} {'rc':>3} {'status':7} {'equal':6} problem")
    for t in trials:
        for j, k in enumerate(t.kills):
            kind = k.kind if k.process == "train" else f"{k.process[0]}{k.process.split()[-1]}:{k.kind}"
            head = f"{t.index:>3}" if j == 0 else "   "
            tail = (
                f"{t.resume_rc:>3} {t.meta_status or '-':7} {'yes' if not t.mismatches else 'NO':6} {problems(t)}"
                if j == len(t.kills) - 1
                else ""
            )
            print(f"{head} {kind:9} {k.killed_at_s:>7.3f}  {k.summary[:56]:56} {tail}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20, help="trials, each with one SIGKILL of the training")
    p.add_argument("--resume-kills", type=int, default=0, help="further SIGKILLs per trial, each of a resume")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--algo", choices=sorted(SMALL), default="sac")
    p.add_argument("--timesteps", type=int, default=None, help="per run (default: 2000 for sac, 24576 for ppo)")
    p.add_argument("--workdir", type=Path, default=None, help="where the run folders go (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep every run folder (failed trials' are always kept)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="fault-injection-", dir=args.workdir))
    ref_cmd = train_command(args.algo, work / "reference", args.timesteps)
    print("train command:", " ".join(ref_cmd[3:-4]), flush=True)
    ref = reference_run(ref_cmd, work / "reference")
    print(
        f"reference run: {ref.seconds:.1f} s, its folder from {ref.span[0]:.2f} s; temporary checkpoint folders "
        f"seen for {min(ref.temp_lifetimes, default=0) * 1e3:.1f}-{max(ref.temp_lifetimes, default=0) * 1e3:.1f} ms "
        f"(polling every {POLL_S * 1e3:.1f} ms)",
        flush=True,
    )

    def later(kill: Kill) -> Any:  # a resume's kill: a time over what the reference had left after the last kill
        start = ref.span[0]
        return lambda: Moment("time", round(rng.uniform(start, start + max(ref.seconds - kill.killed_at_s, 0.5)), 4))

    trials: list[Trial] = []
    for i, kind in enumerate(plan(args.kills, rng)):
        run = work / f"trial-{i:02d}"
        kills: list[Kill] = []
        got = kill_once(train_command(args.algo, run, args.timesteps), run, lambda k=kind: draw(rng, k, ref), "train")
        for n in range(1, args.resume_kills + 1):
            assert isinstance(got, Kill)
            kills.append(got)
            got = kill_once(cli("resume", run), run, later(got), f"resume {n}")
            if isinstance(got, Watched):  # that resume finished before its kill
                break
        if isinstance(got, Kill):
            kills.append(got)
        t = finish(i, ref, run, kills, got if isinstance(got, Watched) else None)
        trials.append(t)
        shown = " | ".join(f"{k.kind} at {k.killed_at_s:.3f} s [{k.summary}]" for k in kills)
        print(f"  trial {i:2d} {shown} -> {'ok' if t.passed else 'FAILED: ' + problems(t)}", flush=True)
        if t.passed and not args.keep:
            shutil.rmtree(run)

    print()
    print_table(trials)
    n, equal, passed = len(trials), sum(not t.mismatches for t in trials), sum(t.passed for t in trials)
    hits = sum(k.in_checkpoint_write for t in trials for k in t.kills)
    n_kills = sum(len(t.kills) for t in trials)
    print(
        f"\n{equal}/{n} equal; {passed}/{n} passed every check (resume exit 0, meta.json done, no temporary "
        f"folder or file left); {hits} of {n_kills} kills hit a checkpoint write (a temporary checkpoint "
        "folder was on disk after the kill)"
    )
    if passed == n and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"run folders kept under {work}")
    report = {
        "benchmark": "fault_injection",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "algo": args.algo,
        "kills": args.kills,
        "resume_kills": args.resume_kills,
        "seed": args.seed,
        "train_command": " ".join(ref_cmd[3:-4]),
        "reference": {"seconds": ref.seconds, "timeline": ref.timeline, "temp_lifetimes_s": ref.temp_lifetimes},
        "summary": {
            "line": f"{equal}/{n} equal",
            "trials": n,
            "equal": equal,
            "passed": passed,
            "kills": n_kills,
            "hit_checkpoint_write": hits,
            "kinds": {k: sum(t.kills[0].kind == k for t in trials) for k in KINDS},
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "trials": [asdict(t) for t in trials],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if passed == n else 1


if __name__ == "__main__":
    sys.exit(main())
