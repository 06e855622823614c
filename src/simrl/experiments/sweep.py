"""``simrl sweep``: many runs from one command, every one an ordinary run folder inside one sweep folder.

::

    <sweep>/
      sweep.json         what was asked: the command, the swept keys, every run's name and resolved config
      status.json        what finished: each run's status, attempts, last error, steps, final return
      runs/<name>/       an ordinary run folder per run (simrl eval, report, compare and resume work on it)
      .progress/<name>   the step a run's worker last reported (the live view reads these)

Every run is resolved (presets, checks) before the folder exists, so a mistake in any run is one line and
nothing on disk. Running the same command again continues the sweep: finished runs are skipped, interrupted
ones resumed from their newest checkpoint (exactly, as ``simrl resume``), failed ones tried again; a different
sweep in the same folder is refused. Runs go through :mod:`simrl.experiments.executor`, on local worker
processes or a Ray cluster; on a cluster the sweep folder must be on storage every node sees (the workers
write their run folders there themselves), see the README.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.experiments.config import TrainConfig
from simrl.experiments.executor import ExecutorSettings, run_tasks
from simrl.utils import atomic

SWEEP_FILE, STATUS_FILE, RUNS_DIR, PROGRESS_DIR = "sweep.json", "status.json", "runs", ".progress"
FORMAT = 1
MAX_RUNS = 10_000
ENV_PARAM, ENV_KWARG = "env_param.", "env_kwarg."  # grid keys for simulator parameters and env arguments
PROGRESS_EVERY_S = 1.0


# ------------------------------------------------------------------ parsing what was asked
def parse_seeds(text: str) -> list[int]:
    """``0-4``, ``0,3,7`` or ``0-2,10``: the seeds, in order, each once."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise ConfigError(f"--seeds expects seeds like 0-4 or 0,3,7, got '{text}'")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi - lo >= MAX_RUNS:
            raise ConfigError(f"--seeds '{text}' names more than {MAX_RUNS} seeds")
        seeds += [s for s in range(lo, hi + 1) if s not in seeds]
    return seeds


def split_values(text: str) -> list[str]:
    """Comma-separated values, commas inside brackets kept: ``[64,64],[256,256]`` is two values."""
    values, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "[{(") - (ch in "]})")
        if ch == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    return values


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """``--grid KEY=V1,V2`` items: hyper-parameters as ``--set`` takes them (``model.hidden=[64,64],[128,128]``),
    simulator parameters as ``env_param.NAME``, env arguments as ``env_kwarg.NAME``."""
    from simrl.experiments.hyperparams import split_assignment

    axes: list[tuple[str, list[str]]] = []
    for item in items:
        key, value = split_assignment(item, "--grid")
        values = split_values(value)
        if any(not v for v in values):
            raise ConfigError(f"--grid {key}: an empty value in '{value}'", "e.g. --grid learning_rate=1e-3,3e-4")
        if len(set(values)) != len(values):
            raise ConfigError(f"--grid {key}: a value named twice in '{value}'")
        if key in ("seed", "timesteps", "algo", "env_id"):
            raise ConfigError(
                f"--grid cannot sweep '{key}'", "seeds with --seeds; other algos or envs with --runs FILE"
            )
        if any(key == k for k, _ in axes):
            raise ConfigError(f"--grid names '{key}' twice")
        axes.append((key, values))
    return axes


def _cells(axes: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    cells: list[dict[str, str]] = [{}]
    for key, values in axes:
        cells = [{**cell, key: v} for cell in cells for v in values]
    return cells


def _apply(base: dict[str, Any], cell: Mapping[str, str]) -> dict[str, Any]:
    """``resolve`` keyword arguments with one grid cell applied."""
    from simrl.experiments.hyperparams import parse_value

    kw = {**base, "sets": list(base.get("sets") or [])}
    kw["env_params"] = dict(base.get("env_params") or {})
    kw["env_kwargs"] = dict(base.get("env_kwargs") or {})
    for key, value in cell.items():
        if key.startswith(ENV_PARAM):
            kw["env_params"][key[len(ENV_PARAM) :]] = value
        elif key.startswith(ENV_KWARG):
            kw["env_kwargs"][key[len(ENV_KWARG) :]] = parse_value(value)
        else:
            kw["sets"].append(f"{key}={value}")
    return kw


_RUN_FILE_KEYS = {
    "algo": "algo",
    "env": "env_id",
    "env_id": "env_id",
    "timesteps": "timesteps",
    "n_envs": "n_envs",
    "hyperparams": "hyperparams",
    "env_params": "env_params",
    "env_kwargs": "env_kwargs",
    "eval_env_kwargs": "eval_env_kwargs",
    "eval_freq": "eval_freq",
    "eval_episodes": "eval_episodes",
    "demos": "demos",
    "expert": "expert",
    "demo_episodes": "demo_episodes",
}


def read_runs_file(path: Path) -> list[dict[str, Any]]:
    """A YAML list of runs (``runs:`` of mappings: algo, env, seeds, timesteps, hyperparams, env_params, env_kwargs,
    eval_freq, eval_episodes, demos, expert, demo_episodes, name); each entry as ``resolve`` keyword arguments,
    with its seeds under ``seeds`` and its name under ``name``."""
    from simrl.experiments.hyperparams import read_yaml

    doc = read_yaml(path, "--runs")
    entries = doc.get("runs") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"--runs '{path}' must hold a non-empty list under 'runs:'", "see 'simrl sweep --help'")
    out = []
    for i, entry in enumerate(entries):
        where = f"--runs '{path}', run {i + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not a mapping")
        kw: dict[str, Any] = {}
        for key, value in entry.items():
            if key == "seeds":
                kw["seeds"] = parse_seeds(str(value)) if not isinstance(value, list) else [int(v) for v in value]
            elif key == "seed":
                kw["seeds"] = [int(value)]
            elif key == "name":
                kw["name"] = str(value)
            elif key in _RUN_FILE_KEYS:
                kw[_RUN_FILE_KEYS[key]] = value
            else:
                import difflib

                close = difflib.get_close_matches(str(key), [*_RUN_FILE_KEYS, "seed", "seeds", "name"], n=1)
                hint = f"did you mean '{close[0]}'?" if close else "keys: " + ", ".join(sorted(_RUN_FILE_KEYS))
                raise ConfigError(f"{where}: unknown key '{key}'", hint)
        if "algo" not in kw or "env_id" not in kw:
            raise ConfigError(f"{where} needs 'algo' and 'env'")
        for key in ("env_params", "env_kwargs", "eval_env_kwargs", "hyperparams"):
            if key in kw and not isinstance(kw[key], dict):
                raise ConfigError(f"{where}: '{key}' must be a mapping")
        if "env_params" in kw:
            kw["env_params"] = {k: str(v) for k, v in kw["env_params"].items()}
        for key in ("hyperparams", "env_kwargs", "eval_env_kwargs"):
            if key in kw:
                kw[key] = _numbers(kw[key])
        out.append(kw)
    return out


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _numbers(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` as a string: numbers written so become floats, as ``--set`` reads them."""
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


# ------------------------------------------------------------------ the planned sweep
@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its folder name, what distinguishes it, and its resolved configuration."""

    name: str
    swept: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True)
class Sweep:
    """A sweep folder and the runs it asks for."""

    folder: Path
    runs: tuple[SweepRun, ...]
    group_by: tuple[str, ...]
    command: str = ""
    created: str = ""

    @property
    def runs_dir(self) -> Path:
        return self.folder / RUNS_DIR

    def run_dir(self, name: str) -> Path:
        return self.runs_dir / name


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", text).strip("-.") or "x"


def _flat(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    """The config keys (dotted, leaves) whose values differ between runs, seed excluded, in first-seen order."""
    flats = [_flat(c) for c in configs]
    keys: list[str] = []
    for f in flats:
        keys += [k for k in f if k not in keys]
    missing = object()
    return [
        k
        for k in keys
        if k != "seed" and len({json.dumps(f.get(k, missing), sort_keys=True, default=str) for f in flats}) > 1
    ]


def plan(
    base: Mapping[str, Any],
    *,
    seeds: list[int],
    grid: list[tuple[str, list[str]]],
    runs_file: list[dict[str, Any]] | None = None,
) -> tuple[list[SweepRun], list[str]]:
    """Every run of a sweep, resolved and checked (a ConfigError names the first bad one), and the keys to group by.

    ``base`` holds ``resolve``'s keyword arguments from the command line (algo and env_id absent with a runs
    file); every entry of ``runs_file`` overrides them, and ``grid`` and ``seeds`` multiply every entry.
    """
    from simrl.errors import SimrlError
    from simrl.experiments.config import resolve

    entries = runs_file if runs_file is not None else [{}]
    cells = _cells(grid)
    count = sum(len(e.get("seeds", seeds)) for e in entries) * len(cells)
    if count > MAX_RUNS:
        raise ConfigError(f"the sweep asks for {count} runs, more than {MAX_RUNS}", "sweep fewer values")
    runs: list[SweepRun] = []
    checked_experts: set[str] = set()
    for i, entry in enumerate(entries):
        entry = dict(entry)
        entry_seeds = entry.pop("seeds", seeds)
        label = entry.pop("name", None)
        kw = {**base, **entry}
        if runs_file is not None and "hyperparams" in entry and "hyperparams" in base:
            kw["hyperparams"] = {**base["hyperparams"], **entry["hyperparams"]}
        for cell in cells:
            for j, seed in enumerate(entry_seeds):
                args = {**_apply(kw, cell), "seed": seed}
                try:
                    config = resolve(**args)
                    if j == 0:  # a setting's trainer built once: what only building it checks (seeds change nothing)
                        _check_trainer(config, checked_experts)
                except SimrlError as e:
                    where = ", ".join([*(f"{k}={v}" for k, v in cell.items()), f"seed {seed}"])
                    if runs_file is not None:
                        where = f"run {i + 1} ({label or kw['algo']}), {where}"
                    e.what = f"{e.what} [{where}]"
                    raise
                head = label or (f"{config.algo}-{config.env_id.replace('/', '-')}" if runs_file is not None else "")
                parts = [head] if head else []
                parts += [f"{k.removeprefix(ENV_PARAM).removeprefix(ENV_KWARG)}={v}" for k, v in cell.items()]
                name = _safe("_".join([*parts, f"s{seed}"]))
                swept = {**({"run": head} if head else {}), **cell, "seed": seed}
                runs.append(
                    SweepRun(name if len(name) <= 120 else f"run{len(runs):04d}-s{seed}", swept, config.to_dict())
                )
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ConfigError(f"two runs of the sweep are both named '{dup}'", "give each entry of --runs its own name")
    differ = differing_keys([r.config for r in runs])
    if "algo" in differ or "env_id" in differ:  # their presets differ in many keys: group by what was asked
        asked = {"algo", "env_id", *_asked_keys(grid, entries)}
        differ = [k for k in differ if k in asked]
    return runs, differ


def _asked_keys(grid: list[tuple[str, list[str]]], entries: list[dict[str, Any]]) -> set[str]:
    """The config keys (dotted) that the grid and the runs file's entries set themselves."""
    keys = set()
    for key, _ in grid:
        if key.startswith(ENV_PARAM):
            keys.add("env_params." + key[len(ENV_PARAM) :])
        elif key.startswith(ENV_KWARG):
            keys.add("env_kwargs." + key[len(ENV_KWARG) :])
        else:
            keys.add("hyperparams." + key)
    for entry in entries:
        for key, value in entry.items():
            if isinstance(value, dict):
                keys |= {f"{key}.{k}" for k in _flat(value)}
            elif key not in ("seeds", "name"):
                keys.add(key)
    return keys


def _check_trainer(config: TrainConfig, checked_experts: set[str]) -> None:
    """Build (and close) the run's trainer, as ``simrl train`` does before its folder exists; an expert's
    demonstrations are collected and checked once per expert."""
    from simrl.experiments.imitating import with_expert_demos
    from simrl.experiments.training import build_trainer

    if config.expert is not None:
        if config.expert in checked_experts:
            return
        checked_experts.add(config.expert)
    with with_expert_demos(config) as given:
        build_trainer(given).close()


def _manifest(sweep: Sweep) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "command": sweep.command,
        "created": sweep.created,
        "group_by": list(sweep.group_by),
        "runs": [{"name": r.name, "swept": r.swept, "config": r.config} for r in sweep.runs],
    }


def _same_run(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def norm(x: Any) -> str:
        return json.dumps(x, sort_keys=True, default=str)

    return a["name"] == b["name"] and norm(a["config"]) == norm(b["config"])


def open_sweep(folder: Path) -> Sweep:
    """The sweep stored in ``folder`` (a ConfigError when it holds none or an unreadable one)."""
    path = folder / SWEEP_FILE
    if not path.is_file():
        raise ConfigError(
            f"'{folder}' is not a sweep folder (no {SWEEP_FILE})", "start one with 'simrl sweep ALGO ENV'"
        )
    try:
        doc = json.loads(path.read_text())
        runs = tuple(SweepRun(r["name"], dict(r["swept"]), dict(r["config"])) for r in doc["runs"])
        for r in runs:
            TrainConfig.from_dict(r.config)
            if _safe(r.name) != r.name:
                raise ValueError(f"run name {r.name!r}")
        return Sweep(folder, runs, tuple(doc["group_by"]), str(doc.get("command", "")), str(doc.get("created", "")))
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"'{path}' does not describe a sweep ({e})") from None


def prepare(folder: Path, runs: list[SweepRun], group_by: list[str], command: str) -> Sweep:
    """The sweep in ``folder``: created with its manifest, or the one there when it asks for the same runs."""
    from simrl.experiments.runfolder import now

    if (folder / SWEEP_FILE).exists():
        old = open_sweep(folder)
        asked = [{"name": r.name, "config": r.config} for r in runs]
        there = [{"name": r.name, "config": r.config} for r in old.runs]
        if len(asked) != len(there) or not all(_same_run(a, b) for a, b in zip(asked, there, strict=True)):
            differ = next(
                (a["name"] for a, b in zip(asked, there, strict=False) if not _same_run(a, b)),
                f"{len(there)} runs there, {len(asked)} asked",
            )
            raise ConfigError(
                f"'{folder}' holds another sweep (first difference: {differ})",
                "give another --out, or 'simrl sweep --out FOLDER' alone to continue the one there",
            )
        return old
    if folder.exists() and any(folder.iterdir()):
        raise ConfigError(f"--out '{folder}' is a folder with other files in it", "give a new or empty folder")
    sweep = Sweep(folder, tuple(runs), tuple(group_by), command, now())
    (folder / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    atomic.write_json(folder / SWEEP_FILE, _manifest(sweep))
    return sweep


# ------------------------------------------------------------------ running it
def run_status(run_dir: Path) -> dict[str, Any]:
    """What a run folder says of itself: status (absent, running, done, failed, stopped), steps, returns."""
    from simrl.experiments.runfolder import META

    try:
        meta = json.loads((run_dir / META).read_text())
    except (OSError, ValueError):
        return {"status": "absent"}
    return {
        "status": meta.get("status"),
        "timesteps": meta.get("timesteps_done"),
        "timesteps_total": meta.get("timesteps_total"),
        "final_mean": meta.get("last_mean_reward"),
        "best_mean": meta.get("best_mean_reward"),
        "random_mean": meta.get("random_mean_reward"),
        "wall_time_s": meta.get("wall_time_s"),
    }


class _Progress:
    """A run's callback in its worker: writes the step to the sweep's progress file, at most once a second."""

    def __init__(self, path: Path, total: int) -> None:
        self.path, self.total, self.last = path, total, 0.0

    def __call__(self, step: int, mean: float | None) -> None:
        if not self.last or time.monotonic() - self.last >= PROGRESS_EVERY_S or mean is not None or step >= self.total:
            self.last = time.monotonic()
            with contextlib.suppress(OSError):  # progress is for the eye only: never fail a run over it
                atomic.write_json(self.path, {"step": int(step), "total": self.total, "mean": mean})


def train_run(runs_dir: str, name: str, config: dict[str, Any], command: str, progress_dir: str | None = None) -> dict:
    """A worker's task: train run ``runs_dir/name`` to its end, starting its folder or resuming it; returns its
    :func:`run_status`. ``progress_dir``: where the run's step is written for a live view (None: nowhere)."""
    from simrl.experiments import imitating, training

    run_dir = Path(runs_dir) / name
    before = run_status(run_dir)
    if before["status"] == "done":
        return before
    if before["status"] == "absent":
        run = imitating.start(TrainConfig.from_dict(config), Path(runs_dir), name, command)
    else:
        run = training.resume(run_dir)
    progress: Callable[[int, float | None], None] = lambda step, mean: None  # noqa: E731
    if progress_dir is not None:
        Path(progress_dir).mkdir(exist_ok=True)
        progress = _Progress(Path(progress_dir) / name, run.total)
        progress(run.trainer.num_timesteps, None)  # the head counts the run as running from here
    run.train(progress)
    return run_status(run_dir)


@dataclass
class SweepState:
    """The head's view of a sweep while it runs: each run's status, attempts, last error and last step."""

    sweep: Sweep
    status: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    steps: dict[str, tuple[int, int]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    submitted: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(("done", "running", "pending", "failed"), 0)
        for s in self.status.values():
            out[s] = out.get(s, 0) + 1
        return out

    def read_progress(self) -> list[str]:
        """Read the running runs' steps; returns the runs that have started since the last call."""
        started = []
        for name, s in self.status.items():
            path = self.sweep.folder / PROGRESS_DIR / name
            if s == "pending" and name in self.submitted:
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime >= self.submitted[name] - 1.0:
                        self.status[name] = "running"
                        started.append(name)
            if self.status[name] == "running":
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                    p = json.loads(path.read_text())
                    self.steps[name] = (int(p["step"]), int(p["total"]))
        return started

    def write(self) -> None:
        runs = {}
        for r in self.sweep.runs:
            runs[r.name] = {
                "status": self.status.get(r.name, "pending"),
                "attempts": self.attempts.get(r.name, 0),
                "error": self.errors.get(r.name),
                **{k: v for k, v in self.results.get(r.name, {}).items() if k != "status"},
            }
        from simrl.experiments.runfolder import now

        atomic.write_json(self.sweep.folder / STATUS_FILE, {"updated": now(), "runs": runs})


def execute(
    sweep: Sweep,
    settings: ExecutorSettings,
    *,
    on_change: Callable[[SweepState, str, str], None] | None = None,
    poll: Callable[[SweepState], None] | None = None,
) -> SweepState:
    """Train every run of ``sweep`` not yet done; returns the final state (written to status.json too).

    ``on_change(state, name, what)`` is called when a run starts, finishes, fails or is retried; ``poll(state)``
    about twice a second (the live view).
    """
    state = SweepState(sweep)
    todo: dict[str, tuple[Any, ...]] = {}
    for r in sweep.runs:
        now_status = run_status(sweep.run_dir(r.name))
        if now_status["status"] == "done":
            state.status[r.name] = "done"
            state.results[r.name] = now_status
        else:
            state.status[r.name] = "pending"
            command = f"{sweep.command}  # sweep run {r.name}" if sweep.command else f"simrl sweep run {r.name}"
            todo[r.name] = (str(sweep.runs_dir), r.name, r.config, command, str(sweep.folder / PROGRESS_DIR))
    state.write()

    def event(what: str, key: Any, attempt: int, error: str | None) -> None:
        name = str(key)
        state.attempts[name] = attempt
        if what == "start":  # queued: it counts as running once its worker writes its progress file
            state.status[name] = "pending"
            state.submitted[name] = time.time()
        elif what == "done":
            state.results[name] = run_status(sweep.run_dir(name))
            state.status[name] = "done" if state.results[name]["status"] == "done" else "failed"
            state.errors.pop(name, None)
        elif what == "retry":
            state.errors[name] = error or ""
            state.status[name] = "pending"
        elif what == "failed":
            state.errors[name] = error or ""
            state.status[name] = "failed"
            state.results[name] = run_status(sweep.run_dir(name))
        state.write()
        if on_change is not None:
            on_change(state, name, what)

    def tick() -> None:
        for name in state.read_progress():
            if on_change is not None:
                on_change(state, name, "running")
        if poll is not None:
            poll(state)

    run_tasks(train_run, todo, settings, event=event, poll=tick)
    state.write()
    return state


def expand(targets: list[Path]) -> tuple[list[Path], list[str] | None]:
    """``simrl compare``'s arguments with every sweep folder replaced by its run folders that exist, and the
    sweep's swept keys to group by (None when no sweep is given)."""
    dirs: list[Path] = []
    group_by: list[str] | None = None
    for target in targets:
        if (target / SWEEP_FILE).is_file():
            sweep = open_sweep(target)
            dirs += [
                sweep.run_dir(r.name) for r in sweep.runs if run_status(sweep.run_dir(r.name))["status"] != "absent"
            ]
            group_by = [*(group_by or []), *(k for k in sweep.group_by if k not in (group_by or []))]
        else:
            dirs.append(target)
    return dirs, group_by
