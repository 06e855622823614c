"""``simrl tune``: an Optuna study over a plain-YAML search space, each trial K ordinary run folders.

A trial trains ``seeds_per_trial`` seeds one after another (``seed``, ``seed + 1``, ...; the same seeds in
every trial, so trials differ by their parameters, not by their luck) into ``STUDY/trials/<number>/s<seed>/``,
ordinary run folders that ``simrl report`` and ``compare`` read. Its value is the IQM (or mean) of the
seeds' final evaluation means.

Intermediate values, for pruning: a run evaluates ``n_evaluations`` times, at slots k = 1..n (every
``timesteps / n`` steps; a slot is ``step // eval_freq``, so trials whose collection units differ still
line up). Seed j's evaluation at slot k is reported at step ``j * n + k - 1`` with the mean over seeds
0..j at that slot: a pruner compares trials on the same seeds at the same point. A pruned trial's
current run stops (its meta.json says ``stopped``) and its later seeds are not trained.

Storage: a journal file in the study folder (several processes on one machine), or an RDB URL
(``sqlite:///...``, ``postgresql://...``) with heartbeats, where a trial whose worker died is failed and
retried by Optuna. For the journal, a trial left RUNNING by a dead process of this machine is failed and
its parameters enqueued again at start-up. Re-running the command continues the study until ``trials``
trials are finished (complete or pruned).

Optuna is imported inside the functions that use it.
"""

from __future__ import annotations

import copy
import math
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from simrl.errors import ConfigError
from simrl.experiments.config import TrainConfig, resolve
from simrl.experiments.hyperparams import parse_value, set_dotted, split_assignment
from simrl.experiments.spaces import Param, space_doc
from simrl.utils.atomic import write_text

SAMPLERS = ("tpe", "random", "cmaes", "gp")
PRUNERS = ("median", "halving", "none")
SCORES = ("iqm", "mean")
JOURNAL = "study.journal"
SPACE_FILE = "space.yaml"
"""The space a study searches, written in its folder (what ``--warm-start`` reads)."""
ADDED = "added_from"
"""User attribute of a trial added from another study (``STUDY#NUMBER``): finished elsewhere, it does not
count towards ``--trials``."""
RDB_SCHEMES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class StudySettings:
    """Everything a study depends on; checked by :func:`prepare` before anything is written."""

    algo: str
    env_id: str
    folder: Path
    """The study folder: the journal (by default), trials/, results.json, trials.csv, best.yaml, plots/."""
    space: dict[str, Param]
    fixed: dict[str, Any] = field(default_factory=dict)
    """Dotted name -> value, applied to every trial as ``--set`` would (and taken out of the space)."""
    trials: int = 20
    seeds_per_trial: int = 1
    seed: int = 0
    score: str = "iqm"
    sampler: str = "tpe"
    pruner: str = "median"
    n_evaluations: int = 5
    timesteps: int | None = None
    n_envs: int | None = None
    eval_episodes: int = 10
    timeout: float | None = None
    storage: str | None = None
    """An RDB URL; None: the journal file in ``folder``."""
    device: str = "auto"
    warm_from: str | None = None
    """A round: the name of the study it warm-started from (hpo_warm)."""
    fixed_at_best: tuple[str, ...] = ()
    """The keys of ``fixed`` that are the warm-start source's best values (not the user's fixes)."""

    @property
    def study_name(self) -> str:
        return self.folder.name

    @property
    def storage_label(self) -> str:
        """What ``optuna-dashboard`` takes: the URL or the journal file's path."""
        return self.storage or str(self.folder / JOURNAL)


def parse_fixes(items: list[str]) -> dict[str, Any]:
    """``--fix KEY=VALUE`` items; values are YAML as ``--set``'s are."""
    out: dict[str, Any] = {}
    for item in items:
        key, raw = split_assignment(item, "--fix")
        out[key] = parse_value(raw)
    return out


def check_storage_url(url: str) -> str:
    """An RDB URL Optuna can hold a study in: ``sqlite:///FILE`` or ``postgresql://...`` (ConfigError otherwise)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    hint = "e.g. sqlite:///study.db or postgresql://user@host/db"
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"--storage '{url}' is not a database URL", hint) from None
    backend = parsed.get_backend_name()
    if backend not in RDB_SCHEMES:
        raise ConfigError(f"--storage '{url}': unsupported database '{backend}'", hint)
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigError(f"--storage '{url}' names no database file", "sqlite:///path/to/study.db")
    if backend == "postgresql" and not parsed.database:
        raise ConfigError(f"--storage '{url}' names no database", hint)
    return url


def _check_settings(s: StudySettings) -> None:
    for name, value, low in (
        ("--trials", s.trials, 1),
        ("--seeds-per-trial", s.seeds_per_trial, 1),
        ("--n-evaluations", s.n_evaluations, 1),
        ("--seed", s.seed, 0),
    ):
        if value < low:
            raise ConfigError(f"{name} must be at least {low}, got {value}")
    for name, value, known in (
        ("--sampler", s.sampler, SAMPLERS),
        ("--pruner", s.pruner, PRUNERS),
        ("--score", s.score, SCORES),
    ):
        if value not in known:
            raise ConfigError(f"unknown {name} '{value}'", f"choose one of: {', '.join(known)}")
    if s.timeout is not None and not s.timeout > 0:
        raise ConfigError(f"--timeout must be positive, got {s.timeout}")
    if s.storage is not None:
        check_storage_url(s.storage)


def trial_hyperparams(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``base`` with each dotted name set to its value (``--set``'s rule), the base left unchanged."""
    hp = copy.deepcopy(base)
    for name, value in values.items():
        set_dotted(hp, name, copy.deepcopy(value), "search parameter")
    return hp


@dataclass(frozen=True)
class Plan:
    """A checked study: the settings, the space left after ``--fix``, and the base hyper-parameters."""

    settings: StudySettings
    space: dict[str, Param]
    base: dict[str, Any]
    """The resolved hyper-parameters (presets with the fixed values applied) every trial starts from."""

    def config(self, values: dict[str, Any], seed: int) -> TrainConfig:
        """The run configuration of one trial seed, checked as ``simrl train --set`` checks (keys here;
        values when the trainer is built, before its folder is created)."""
        s = self.settings
        timesteps = s.timesteps
        config = resolve(
            s.algo,
            s.env_id,
            timesteps=timesteps,
            seed=seed,
            n_envs=s.n_envs,
            hyperparams=trial_hyperparams(self.base, values),
            checkpoints=(100,),
            eval_episodes=s.eval_episodes,
            device=s.device,
        )
        return replace(config, eval_freq=max(1, config.timesteps // s.n_evaluations))


def prepare(settings: StudySettings) -> Plan:
    """Check the settings and the space: every fixed value and every parameter's bounds (low and high,
    every choice) as ``--set`` values for the algorithm. Writes nothing.

    Raises:
        ConfigError: one line naming what is wrong.
    """
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("simrl tune needs Optuna", "pip install 'simrl[tune]'") from None
    _check_settings(settings)
    space = {k: p for k, p in settings.space.items() if k not in settings.fixed}
    if not space:
        raise ConfigError("every search parameter is fixed by --fix: nothing to search")
    for key in settings.fixed:
        if any(k.startswith(key + ".") or key.startswith(k + ".") for k in space):
            raise ConfigError(f"--fix {key} overlaps search parameter(s) of the space", "fix the whole parameter")
    base_config = resolve(
        settings.algo,
        settings.env_id,
        timesteps=settings.timesteps,
        seed=0,
        n_envs=settings.n_envs,
        device=settings.device,
    )
    base = trial_hyperparams(base_config.hyperparams, settings.fixed)
    plan = Plan(replace(settings, algo=base_config.algo), space, base)
    first = {k: p.extremes()[0] for k, p in space.items()}
    _check_values(plan, {}, "--fix")
    for name, param in space.items():
        for value in param.extremes():
            _check_values(plan, {**first, name: value}, f"search parameter '{name}' = {value}")
    return plan


def _check_values(plan: Plan, values: dict[str, Any], what: str) -> None:
    try:
        config = plan.config(values, seed=plan.settings.seed)
        check_values(config)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e.what}", e.hint) from None


def check_values(config: TrainConfig) -> None:
    """The value checks building the trainer makes, without building it (the sb3 kind's; other kinds are
    checked when their trainer is built)."""
    if config.kind == "sb3":
        from simrl.rl.algos import build_kwargs

        build_kwargs(config.algo, config.hyperparams, 1)


# ------------------------------------------------------------------------------------------ the study
def make_sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    return optuna.samplers.GPSampler(seed=seed)


def make_pruner(name: str, n_evaluations: int) -> Any:
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(0, n_evaluations // 2 - 1))
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_storage(settings: StudySettings) -> Any:
    """The study's storage (the folder must exist): the journal file, or the RDB with heartbeats and retries."""
    import optuna
    from optuna.storages import RDBStorage, RetryFailedTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if settings.storage is None:
        return JournalStorage(JournalFileBackend(str(settings.folder / JOURNAL)))
    try:
        return RDBStorage(
            settings.storage,
            heartbeat_interval=30,
            grace_period=90,
            failed_trial_callback=RetryFailedTrialCallback(max_retry=3),
        )
    except (ImportError, optuna.exceptions.StorageInternalError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot open --storage '{settings.storage}': {first}") from None


def identity(settings: StudySettings) -> dict[str, Any]:
    """What a study's trials mean: a re-run with other values would mix incomparable trials."""
    s = settings
    return {
        "algo": s.algo,
        "env_id": s.env_id,
        "seeds_per_trial": s.seeds_per_trial,
        "seed": s.seed,
        "score": s.score,
        "timesteps": s.timesteps,
        "n_envs": s.n_envs,
        "n_evaluations": s.n_evaluations,
        "eval_episodes": s.eval_episodes,
    }


def worker_id() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale_journal_trials(study: Any) -> list[int]:
    """Fail the RUNNING trials whose worker was a process of this machine that no longer exists, and
    enqueue their parameters again. Returns their numbers."""
    from optuna.trial import TrialState

    here = socket.gethostname()
    stale = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        if worker.get("host") == here and isinstance(worker.get("pid"), int) and not _alive(worker["pid"]):
            study.tell(t.number, state=TrialState.FAIL)
            if t.params:
                study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number}, skip_if_exists=False)
            stale.append(t.number)
    return stale


def load_study(plan: Plan) -> Any:
    """Create or load the study (the folder exists), checking that a loaded one means the same trials."""
    import optuna
    from optuna.trial import TrialState

    s = plan.settings
    storage = open_storage(s)
    existing = [x.study_name for x in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    finished = 0
    if s.study_name in existing:
        old = optuna.load_study(study_name=s.study_name, storage=storage)
        before = old.user_attrs.get("simrl")
        if before is not None and before != identity(s):
            diff = ", ".join(f"{k} {before.get(k)} -> {v}" for k, v in identity(s).items() if before.get(k) != v)
            raise ConfigError(
                f"study '{s.study_name}' was run with other settings ({diff})",
                "use the same settings to continue it, or another --name",
            )
        finished = len(old.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    study = optuna.create_study(
        study_name=s.study_name,
        storage=storage,
        sampler=make_sampler(s.sampler, s.seed + finished),  # a continued random search draws new points
        pruner=make_pruner(s.pruner, s.n_evaluations),
        direction="maximize",
        load_if_exists=True,
    )
    study.set_user_attr("simrl", identity(s))
    if s.storage is None:
        fail_stale_journal_trials(study)
    return study


def objective(plan: Plan, log: Callable[[str], None] = print) -> Callable[[Any], float]:
    """The trial function: K seeds as run folders, intermediate values reported, pruning obeyed."""
    import optuna

    from simrl.evaluation.stats import iqm
    from simrl.experiments.training import start

    s = plan.settings

    def run_trial(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker_id())
        values = {name: p.value(_suggest(trial, p)) for name, p in plan.space.items()}
        seeds = [s.seed + j for j in range(s.seeds_per_trial)]
        configs = [plan.config(values, seed) for seed in seeds]  # ConfigError here: the trial fails, the study stops
        folder = s.folder / "trials" / str(trial.number)
        curves: list[dict[int, float]] = []
        finals: list[float] = []
        for j, config in enumerate(configs):
            curve: dict[int, float] = {}
            curves.append(curve)
            pruned = False

            def report(step: int, mean: float | None, j: int = j, curve: dict[int, float] = curve) -> bool:
                nonlocal pruned
                if mean is None:
                    return True
                slot = min(max(1, step // configs[j].eval_freq), s.n_evaluations)
                if slot in curve:
                    return True
                curve[slot] = mean
                seen = [c[slot] for c in curves if slot in c]
                trial.report(sum(seen) / len(seen), j * s.n_evaluations + slot - 1)
                if trial.should_prune():
                    pruned = True
                    return False
                return True

            run = start(config, folder, f"s{config.seed}", f"simrl tune: trial {trial.number}, seed {config.seed}")
            trial.set_user_attr("runs", [str(Path("trials") / str(trial.number) / f"s{x}") for x in seeds[: j + 1]])
            summary = run.train(report)
            if pruned:
                raise optuna.TrialPruned(f"pruned at seed {config.seed}, step {summary.timesteps}")
            if summary.final_mean is None or not math.isfinite(summary.final_mean):
                raise ConfigError(f"trial {trial.number}, seed {config.seed} ended without an evaluation")
            finals.append(summary.final_mean)
        return float(iqm(finals)) if s.score == "iqm" else sum(finals) / len(finals)

    return run_trial


def _suggest(trial: Any, p: Param) -> Any:
    if p.type == "float":
        return trial.suggest_float(p.name, float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
    if p.type == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
    return trial.suggest_categorical(p.name, list(p.labels))


def finished_trials(study: Any) -> int:
    """Complete and pruned trials run in this study (trials added from another do not count)."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return sum(ADDED not in t.user_attrs for t in done)


def run_study(
    plan: Plan,
    *,
    log: Callable[[str], None] = print,
    after_trial: Callable[[Any], None] | None = None,
    on_open: Callable[[Any], None] | None = None,
) -> Any:
    """Run (or continue) the study until ``trials`` trials are finished or ``timeout`` seconds pass.

    ``on_open(study)`` is called once the study is open, before any trial (``--warm-start`` seeds it
    there); ``after_trial(study)`` after every trial (the outputs are rewritten there). Returns the study.
    """
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = plan.settings
    s.folder.mkdir(parents=True, exist_ok=True)
    study = load_study(plan)
    if not (s.folder / SPACE_FILE).exists():
        doc = yaml.safe_dump(space_doc(plan.space), sort_keys=False, default_flow_style=None)
        write_text(s.folder / SPACE_FILE, doc)
    if on_open is not None:
        on_open(study)
    remaining = s.trials - finished_trials(study)
    if remaining <= 0:
        log(f"study {s.study_name} already has {finished_trials(study)} finished trials (of {s.trials})")
        return study

    def each(study: Any, trial: Any) -> None:
        value = f"value {trial.value:.2f}" if trial.state == TrialState.COMPLETE else ""
        best = ""
        if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            best = f"   best {study.best_value:.2f} (trial {study.best_trial.number})"
        log(f"trial {trial.number} {trial.state.name.lower()} {value}{best}")
        if after_trial is not None:
            after_trial(study)

    study.optimize(
        objective(plan, log),
        n_trials=remaining,
        timeout=s.timeout,
        callbacks=[each, lambda study, _: study.stop() if finished_trials(study) >= s.trials else None],
        catch=(),
    )
    return study
