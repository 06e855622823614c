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
(``sqlite:///...``, ``postgresql://...``: many workers on many machines) with heartbeats every
``heartbeat`` seconds, where a trial whose worker fell silent for 3 heartbeats is failed and retried
(Optuna's check). For the journal, a trial left RUNNING by a dead process of this machine is failed and
retried. Re-running the command continues the study until ``trials`` trials are finished (complete or
pruned).

Exact counts with any number of workers (:func:`run_study`): a worker starts one trial at a time, and only
while the finished trials plus those running or waiting fall short of ``trials`` (otherwise it waits a
heartbeat, failing the trials of dead workers, whose retries it then runs). Workers that start a trial at
the same moment are settled by the trial's *place*: its number, or for a retry the number of the trial
it retries. A trial for which the finished trials and the places before its own that are taken already
make ``trials`` is *surplus*: failed at once with the user attribute ``surplus``, nothing trained
(:func:`is_surplus`).

Optuna is imported inside the functions that use it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
import random
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
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
GRACE_HEARTBEATS = 3
"""A worker silent for this many heartbeats counts as dead: its trial is failed and retried."""
POLL_S = 2.0
"""Seconds between a waiting worker's looks at the study (others' trials finished, or one's worker dead)."""
SPACE_FILE = "space.yaml"
"""The space a study searches, written in its folder (what ``--warm-start`` reads)."""
ADDED = "added_from"
"""User attribute of a trial added from another study (``STUDY#NUMBER``): finished elsewhere, it does not
count towards ``--trials``."""
RDB_SCHEMES = ("sqlite", "postgresql")
MAX_RETRY = 3
"""How often a trial whose worker died is run again."""
SURPLUS = "surplus"
"""User attribute of a trial started after the study had its trials: failed at once, nothing trained."""
ERROR = "error"
"""User attribute of a trial that failed by an error in this worker (not a dead worker: no retry)."""


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
    heartbeat: float = 30.0
    """Seconds between a database worker's signs of life; silent for 3 of them, its trial is failed and retried."""
    demos: str | None = None
    """An imitation learner's demonstrations (``--demos``), as ``simrl train`` takes them."""
    expert: str | None = None
    """An imitation learner's expert (``--expert``): its demonstrations collected for every trial run, the same."""
    demo_episodes: int | None = None

    @property
    def grace(self) -> float:
        """Seconds without a heartbeat after which a running trial's worker counts as dead."""
        return GRACE_HEARTBEATS * self.heartbeat

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
    if not (s.heartbeat > 0 and math.isfinite(s.heartbeat)):
        raise ConfigError(f"--heartbeat must be a positive number of seconds, got {s.heartbeat}")
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
            **demonstrations(s),
        )
        return replace(config, eval_freq=max(1, config.timesteps // s.n_evaluations))


def demonstrations(settings: StudySettings) -> dict[str, Any]:
    """``resolve``'s imitation arguments of a study (none for other learners)."""
    return {"demos": settings.demos, "expert": settings.expert, "demo_episodes": settings.demo_episodes}


def preset(settings: StudySettings) -> TrainConfig:
    """The run configuration a study's trials start from: the preset of its algo and env at its budget,
    before ``--fix`` and the space."""
    return resolve(
        settings.algo,
        settings.env_id,
        timesteps=settings.timesteps,
        seed=0,
        n_envs=settings.n_envs,
        device=settings.device,
        **demonstrations(settings),
    )


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
    base_config = preset(settings)
    base = trial_hyperparams(base_config.hyperparams, settings.fixed)
    plan = Plan(replace(settings, algo=base_config.algo), space, base)
    first = {k: p.extremes()[0] for k, p in space.items()}
    _check_values(plan, {}, "--fix")
    for name, param in space.items():
        for value in param.extremes():
            _check_values(plan, {**first, name: value}, f"search parameter '{name}' = {value}")
    if settings.demos is not None or settings.expert is not None:
        _check_demonstrations(plan.config(first, settings.seed))
    return plan


def _check_demonstrations(config: TrainConfig) -> None:
    """An imitation study's demonstrations (or its expert's, collected as a trial collects them) read and checked
    against the env as a run checks them, by building a trial's trainer: before the study folder exists."""
    from simrl.experiments.imitating import with_expert_demos
    from simrl.experiments.training import build_trainer

    with with_expert_demos(config) as given:
        build_trainer(given).close()


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
        # rl-zoo's settings (and Optuna's startup default): no pruning before 5 complete trials, nor in a
        # run's first third. With 2 startup trials, a 2-evaluation HalfCheetah study pruned 6 of its 8
        # trials against the median of two noisy first evaluations.
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=n_evaluations // 3)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_storage(settings: StudySettings) -> Any:
    """The study's storage (the folder must exist): :func:`storage_at` its folder and ``--storage``."""
    return storage_at(settings.folder, settings.storage, settings.heartbeat)


def storage_at(folder: Path, url: str | None, heartbeat: float = 30.0) -> Any:
    """The journal file in ``folder`` (``url`` None), or the RDB at ``url`` with heartbeats every
    ``heartbeat`` seconds, a grace of 3 heartbeats and :func:`retry_trial` for a dead worker's trial."""
    import optuna
    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    from sqlalchemy.exc import IntegrityError, ProgrammingError, SQLAlchemyError

    if url is None:
        return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))
    given = url
    url, engine_kwargs = engine_url(url)
    try:
        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval's
                    return RDBStorage(
                        url,
                        engine_kwargs=engine_kwargs,
                        heartbeat_interval=heartbeat,  # type: ignore[arg-type]  # seconds; a float works
                        grace_period=GRACE_HEARTBEATS * heartbeat,  # type: ignore[arg-type]
                        heartbeat_stale_trial_callback=retry_trial,
                    )
            except (IntegrityError, ProgrammingError):
                # workers that start together on an empty database all create Optuna's tables: PostgreSQL
                # lets one do it (DDL is transactional) and fails the others, which then find them
                if attempt == 4:
                    raise
                time.sleep(0.2 + random.random())
    except ImportError:
        raise ConfigError(
            f"cannot open --storage '{given}': its database driver is not installed",
            "pip install 'simrl[tune]' (psycopg for PostgreSQL)",
        ) from None
    except (optuna.exceptions.StorageInternalError, SQLAlchemyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot open --storage '{given}': {first}") from None


def engine_url(url: str) -> tuple[str, dict[str, Any]]:
    """The SQLAlchemy URL and engine options for a ``--storage`` URL.

    A plain ``postgresql://`` URL means psycopg2 to SQLAlchemy before 2.1; simrl installs psycopg (3), so
    without psycopg2 the URL names psycopg. A PostgreSQL server that does not answer fails after 10 s.
    """
    import importlib.util

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url, {}
    if parsed.drivername == "postgresql" and importlib.util.find_spec("psycopg2") is None:
        parsed = parsed.set(drivername="postgresql+psycopg")
        url = parsed.render_as_string(hide_password=False)
    if parsed.get_driver_name() in ("psycopg", "psycopg2"):
        return url, {"connect_args": {"connect_timeout": 10}}
    return url, {}


def retry_trial(study: Any, trial: Any) -> None:
    """Enqueue a trial whose worker died again, with its parameters, at most ``MAX_RETRY`` times (the
    storage's callback for Optuna's heartbeat check, and the journal's).

    The record is Optuna's ``RetryHeartbeatStaleTrialCallback``'s (system attributes ``failed_trial``, the
    first trial retried, and ``retry_history``), so its ``retried_trial_number`` and ``retry_history`` read
    it; the dead worker's ``worker`` and ``runs`` attributes stay behind.
    """
    import optuna
    from optuna.trial import TrialState

    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if len(history) > MAX_RETRY or SURPLUS in trial.user_attrs:  # a surplus trial had nothing to do
        return
    system_attrs = {**trial.system_attrs, "failed_trial": _place(trial), "retry_history": history}
    user_attrs = {k: v for k, v in trial.user_attrs.items() if k not in ("worker", "runs", ERROR)}
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
        )
    )


def identity(settings: StudySettings) -> dict[str, Any]:
    """What a study's trials mean: a re-run with other values would mix incomparable trials."""
    s = settings
    ident = {
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
    # an imitation study's demonstrations, only when given: studies of other learners keep their identity
    ident.update({k: v for k, v in demonstrations(s).items() if v is not None})
    return ident


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
    enqueue them again (:func:`retry_trial`). Returns their numbers."""
    from optuna.trial import TrialState

    here = socket.gethostname()
    stale = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker") or {}
        gone = worker.get("host") == here and isinstance(worker.get("pid"), int) and not _alive(worker["pid"])
        if gone and _fail_and_retry(study, t):
            stale.append(t.number)
    return stale


def _fail_and_retry(study: Any, trial: Any) -> bool:
    """Fail a running trial and enqueue it again; False if it had finished (or another worker failed it)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:  # the storage's own call, as optuna.storages.fail_stale_trials makes it: exactly one worker succeeds
        failed = study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except UpdateFinishedTrialError:
        return False
    if failed:
        retry_trial(study, trial)
    return bool(failed)


def fail_stale_trials(study: Any, settings: StudySettings) -> list[int]:
    """Fail the running trials whose worker is gone and enqueue each again (:func:`retry_trial`); returns
    the numbers of the trials found failed this way.

    Gone: on a database, silent for 3 heartbeats (Optuna's check, which runs :func:`retry_trial`); on the
    journal, a process of this machine that no longer exists; on both, started more than 3 heartbeats ago
    and never claimed by a worker (killed between Optuna's ask and its first heartbeat, which Optuna's
    check never fails).
    """
    import optuna
    from optuna.trial import TrialState

    running = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
    if not running:
        return []
    if settings.storage is None:
        fail_stale_journal_trials(study)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if "worker" not in t.user_attrs and t.datetime_start is not None and _age(t.datetime_start) > settings.grace:
            _fail_and_retry(study, t)
    now = {t.number: t for t in study.get_trials(deepcopy=False)}
    return [n for n in running if now[n].state == TrialState.FAIL and not {ERROR, SURPLUS} & set(now[n].user_attrs)]


def _age(when: datetime) -> float:
    """Seconds since ``when``: the RDB's naive local times, the journal's UTC ones."""
    return (datetime.now(when.tzinfo) - when).total_seconds()


def load_study(plan: Plan) -> Any:
    """Create or load the study (the folder exists), checking that a loaded one means the same trials."""
    import optuna

    s = plan.settings
    storage = open_storage(s)
    existing = [x.study_name for x in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    if s.study_name in existing:
        old = optuna.load_study(study_name=s.study_name, storage=storage)
        before = old.user_attrs.get("simrl")
        if before is not None and before != identity(s):
            diff = ", ".join(f"{k} {before.get(k)} -> {v}" for k, v in identity(s).items() if before.get(k) != v)
            raise ConfigError(
                f"study '{s.study_name}' was run with other settings ({diff})",
                "use the same settings to continue it, or another --name",
            )
    study = optuna.create_study(
        study_name=s.study_name,
        storage=storage,
        sampler=make_sampler(s.sampler, s.seed),  # each trial samples with its own (objective)
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
    from simrl.experiments.imitating import start

    s = plan.settings

    def run_trial(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", worker_id())
        if is_surplus(trial.study.get_trials(deepcopy=False), trial.number, s.trials, s.grace):
            trial.set_user_attr(SURPLUS, True)
            raise _Surplus(f"trial {trial.number}: the study has its {s.trials} trials")
        # each trial's own sampler, seeded by --seed and its number (unique in the study): one worker
        # reproduces its study, and workers side by side never propose the same points. Optuna's samplers
        # keep their state in the study (CMA-ES in its trials) and sample at the first suggest, so a new
        # one per trial loses nothing.
        trial.study.sampler = make_sampler(s.sampler, s.seed + trial.number)
        try:
            return train_trial(trial)
        except optuna.TrialPruned:
            raise
        except BaseException as e:  # not a dead worker's trial: no retry
            with contextlib.suppress(Exception):
                trial.set_user_attr(ERROR, f"{type(e).__name__}: {e}".splitlines()[0])
            raise

    def train_trial(trial: optuna.Trial) -> float:
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
                last = j == len(configs) - 1 and slot == s.n_evaluations  # all trained: pruning saves nothing
                if not last and trial.should_prune():
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


class _Surplus(Exception):
    """A trial started after the study had its trials (the objective's; ``run_study`` catches it)."""


def _place(trial: Any) -> int:
    """A trial's place in the study: its number, or for a retry the number of the trial first retried."""
    return int(trial.system_attrs.get("failed_trial", trial.number))


def study_places(trials: list[Any], grace: float) -> tuple[int, set[int], set[int]]:
    """The study's finished (complete or pruned) trials, the places done (a trial there finished) and the
    places taken (not done, and a trial there is running or waiting, or the place's last trial lost its
    worker less than ``grace`` seconds ago and its retry is being enqueued: Optuna fails a stale trial
    first, then enqueues it). Trials added from another study and surplus ones are left out."""
    from optuna.trial import TrialState

    finished, done, taken = 0, set(), set()
    last: dict[int, Any] = {}
    for t in trials:
        if ADDED in t.user_attrs or SURPLUS in t.user_attrs:
            continue
        place = _place(t)
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            finished += 1
            done.add(place)
        elif t.state in (TrialState.RUNNING, TrialState.WAITING):
            taken.add(place)
        if place not in last or t.number > last[place].number:
            last[place] = t
    for place, t in last.items():
        if t.state == TrialState.FAIL and _retry_pending(t, grace):
            taken.add(place)
    return finished, done, taken - done


def _retry_pending(trial: Any, grace: float) -> bool:
    """A failed trial that no error of its worker failed, with retries left, failed less than ``grace`` ago."""
    return (
        ERROR not in trial.user_attrs
        and len(trial.system_attrs.get("retry_history", [])) < MAX_RETRY
        and trial.datetime_complete is not None
        and _age(trial.datetime_complete) < grace
    )


def is_surplus(trials: list[Any], number: int, target: int, grace: float) -> bool:
    """Whether the running trial ``number`` must not run: its place is done or held by an earlier trial
    (a second retry of one trial), or the finished trials and the places before its own that are taken
    already reach ``target``. Of two trials that start together the one with the earlier place runs: each
    sees the other, so the decision does not depend on which asks first."""
    from optuna.trial import TrialState

    me = next(t for t in trials if t.number == number)
    place = _place(me)
    others = [t for t in trials if t.number != number]
    finished, done, taken = study_places(others, grace)
    if place in done:
        return True
    live = (TrialState.RUNNING, TrialState.WAITING)
    earlier = [t for t in others if _place(t) == place and t.number < number and SURPLUS not in t.user_attrs]
    if any(t.state in live for t in earlier):
        return True
    return finished + sum(p < place for p in taken) >= target


class _QuietSurplus(logging.Filter):
    """Drops Optuna's two warnings about a surplus trial (failed on purpose, nothing ran): the one carrying
    the :class:`_Surplus` exception, and the trial's next one."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        words = record.getMessage().split()
        number = words[1] if len(words) > 2 and words[0] == "Trial" and words[2] == "failed" else None
        if record.exc_info and isinstance(record.exc_info[1], _Surplus) and number is not None:
            self.numbers.add(number)
            return False
        return number not in self.numbers


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


def open_study(plan: Plan, on_open: Callable[[Any], None] | None = None) -> Any:
    """Create or continue the study: its folder, storage and space.yaml; ``on_open(study)`` then (a warm start)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = plan.settings
    if s.storage is not None:  # a database that cannot be opened fails before the study folder exists
        open_storage(s).engine.dispose()
    s.folder.mkdir(parents=True, exist_ok=True)
    study = load_study(plan)
    if not (s.folder / SPACE_FILE).exists():
        doc = yaml.safe_dump(space_doc(plan.space), sort_keys=False, default_flow_style=None)
        write_text(s.folder / SPACE_FILE, doc)
    if on_open is not None:
        on_open(study)
    return study


def run_study(
    plan: Plan,
    *,
    log: Callable[[str], None] = print,
    after_trial: Callable[[Any], None] | None = None,
    on_open: Callable[[Any], None] | None = None,
) -> Any:
    """Run (or continue) the study until ``trials`` trials are finished or ``timeout`` seconds pass.

    Any number of workers may run one study at once: each starts a trial only while the finished trials
    and the places taken fall short of ``trials``, else waits a heartbeat (failing dead workers' trials,
    whose retries it then runs); a trial that starts too many is surplus and trains nothing
    (:func:`is_surplus`). So the study ends with exactly ``trials`` finished trials.

    ``on_open(study)`` is called once the study is open, before any trial (``--warm-start`` seeds it
    there); ``after_trial(study)`` after every trial (the outputs are rewritten there). Returns the study.
    """
    from optuna.trial import TrialState

    s = plan.settings
    study = open_study(plan, on_open)
    remaining = s.trials - finished_trials(study)
    if remaining <= 0:
        log(f"study {s.study_name} already has {finished_trials(study)} finished trials (of {s.trials})")
        return study

    def each(study: Any, trial: Any) -> None:
        if SURPLUS in trial.user_attrs:
            log(f"trial {trial.number} not run: the study's {s.trials} trials are finished or running")
            return
        value = f"value {trial.value:.2f}" if trial.state == TrialState.COMPLETE else ""
        retry = f"(retry of trial {_place(trial)}) " if "failed_trial" in trial.system_attrs else ""
        best = ""
        if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
            best = f"   best {study.best_value:.2f} (trial {study.best_trial.number})"
        log(f"trial {trial.number} {trial.state.name.lower()} {retry}{value}{best}")
        if after_trial is not None:
            after_trial(study)

    run_trial = objective(plan, log)
    began = time.monotonic()
    quiet = _QuietSurplus()
    optuna_log = logging.getLogger("optuna.study._optimize")
    optuna_log.addFilter(quiet)
    me = worker_id()
    try:
        while s.timeout is None or time.monotonic() - began < s.timeout:
            for number in fail_stale_trials(study, s):
                log(f"trial {number} failed: its worker is gone (enqueued again)")
            trials = study.get_trials(deepcopy=False)
            finished, _, taken = study_places(trials, s.grace)
            if finished >= s.trials:
                break
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if not waiting and finished + len(taken) >= s.trials:  # the rest are running elsewhere
                # poll often: this worker ends as soon as they finish, and takes over a dead one's retry
                left = s.heartbeat if s.timeout is None else s.timeout - (time.monotonic() - began)
                time.sleep(max(0.0, min(s.heartbeat, POLL_S, left)))
                continue
            before = {t.number for t in trials if t.user_attrs.get("worker") == me}
            try:
                study.optimize(run_trial, n_trials=1, callbacks=[each], catch=(_Surplus,))
            except Exception:
                now = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("worker") == me]
                mine = [t for t in now if t.number not in before]
                if len(mine) != 1 or mine[0].state != TrialState.FAIL or {ERROR, SURPLUS} & set(mine[0].user_attrs):
                    raise
                # another worker failed it, this one silent for 3 heartbeats (stalled): it is retried there
                log(f"trial {mine[0].number} failed: no heartbeat for {s.grace:g} s (enqueued again)")
    finally:
        optuna_log.removeFilter(quiet)
    return study
