"""A study's outputs: results.json, trials.csv, best.yaml (rl-zoo layout) and the Optuna plots.

results.json, trials.csv and best.yaml are rewritten after every trial (atomically); the plots at the end.
``simrl train ALGO ENV --hyperparams STUDY/best.yaml`` trains with the best trial's settings.
"""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from simrl.errors import ConfigError
from simrl.experiments.hpo import ADDED, SURPLUS, Plan, trial_hyperparams
from simrl.utils.atomic import write_bytes, write_text


@dataclass(frozen=True)
class TrialRecord:
    """One trial as results.json and trials.csv give it."""

    number: int
    state: str
    """complete, pruned, fail, running or waiting."""
    value: float | None
    params: dict[str, Any]
    """Dotted name -> the hyper-parameter value (categorical choices as their plain values)."""
    runs: list[str]
    """Its run folders, relative to the study folder."""
    duration_s: float | None
    retry_of: int | None = None
    """The trial it runs again (whose worker died), or None."""
    added_from: str | None = None
    """``STUDY#NUMBER`` for a trial a warm start added from another study (trained there), or None."""


@dataclass(frozen=True)
class StudyResults:
    study: str
    algo: str
    env_id: str
    storage: str
    score: str
    seeds_per_trial: int
    fixed: dict[str, Any]
    seed: int
    """The first training seed of every trial: trial runs use ``seed .. seed + seeds_per_trial - 1``."""
    timesteps: int | None
    """Steps per run as given (None: the preset's)."""
    n_envs: int | None
    """Training envs as given (None: the preset's)."""
    n_evaluations: int
    eval_episodes: int
    sampler: str
    pruner: str
    space: dict[str, dict[str, Any]]
    """The searched parameters (after ``--fix``), each as its space entry: ``{type, low, high, log}`` or
    ``{type, choices}``."""
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    best_hyperparams: dict[str, Any]
    """The hyper-parameters best.yaml holds: every top-level key the space or ``--fix`` touched, whole."""
    trials: list[TrialRecord]
    warm_start: dict[str, Any] | None = None
    """A round: ``{"study": the source's name, "fixed_at_best": [keys of fixed taken from its best]}``."""
    demos: str | None = None
    """An imitation study's ``--demos`` (resolved path), ``--expert`` and ``--demo-episodes``; else None."""
    expert: str | None = None
    demo_episodes: int | None = None

    @property
    def demonstration_args(self) -> list[str]:
        """The ``simrl train`` options giving an imitation study's demonstrations (none for other learners)."""
        given = (("--demos", self.demos), ("--expert", self.expert), ("--demo-episodes", self.demo_episodes))
        return [part for option, value in given if value is not None for part in (option, str(value))]

    @property
    def user_fixed(self) -> dict[str, Any]:
        """The fixed values the user gave (``--fix``, or a warm-start source's), not a source's best values."""
        carried = set((self.warm_start or {}).get("fixed_at_best", []))
        return {k: v for k, v in self.fixed.items() if k not in carried}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _params(plan: Plan, stored: dict[str, Any]) -> dict[str, Any]:
    return {name: plan.space[name].value(v) if name in plan.space else v for name, v in stored.items()}


def collect(plan: Plan, study: Any) -> StudyResults:
    """The study's trials and best trial as records; surplus trials (started by a worker after the study
    had its trials, failed at once, nothing trained) are left out."""
    from optuna.trial import TrialState

    trials = []
    for t in study.get_trials(deepcopy=False):
        if SURPLUS in t.user_attrs:
            continue
        value = t.value if t.state == TrialState.COMPLETE else None
        duration = t.duration.total_seconds() if t.duration is not None else None
        trials.append(
            TrialRecord(
                t.number,
                t.state.name.lower(),
                value,
                _params(plan, t.params),
                list(t.user_attrs.get("runs", [])),
                None if ADDED in t.user_attrs else duration,
                t.system_attrs.get("failed_trial"),
                t.user_attrs.get(ADDED),
            )
        )
    complete = [t for t in trials if t.state == "complete" and t.value is not None and math.isfinite(t.value)]
    best = max(complete, key=lambda t: t.value) if complete else None  # type: ignore[arg-type,return-value]
    s = plan.settings
    best_hp: dict[str, Any] = {}
    if best is not None:
        full = trial_hyperparams(plan.base, best.params)
        touched = {k.split(".")[0] for k in (*s.fixed, *best.params)}
        best_hp = {k: full[k] for k in sorted(touched) if k in full}
        if s.n_envs is not None:
            best_hp["n_envs"] = s.n_envs
    return StudyResults(
        study=s.study_name,
        algo=s.algo,
        env_id=s.env_id,
        storage=s.storage_label,
        score=s.score,
        seeds_per_trial=s.seeds_per_trial,
        fixed=dict(s.fixed),
        seed=s.seed,
        timesteps=s.timesteps,
        n_envs=s.n_envs,
        n_evaluations=s.n_evaluations,
        eval_episodes=s.eval_episodes,
        sampler=s.sampler,
        pruner=s.pruner,
        space={name: p.to_doc() for name, p in plan.space.items()},
        best_number=best.number if best else None,
        best_value=best.value if best else None,
        best_params=dict(best.params) if best else {},
        best_hyperparams=best_hp,
        warm_start={"study": s.warm_from, "fixed_at_best": list(s.fixed_at_best)} if s.warm_from else None,
        trials=trials,
        demos=s.demos,
        expert=s.expert,
        demo_episodes=s.demo_episodes,
    )


def read_results(folder: Path) -> StudyResults:
    """The study folder's results.json, as :func:`write_tables` wrote it.

    Raises:
        ConfigError: no results.json (not a study folder), or one that is corrupt or lacks the study's
            settings (written before they were recorded: running the same ``simrl tune`` again rewrites it).
    """
    path = Path(folder) / "results.json"
    if not Path(folder).is_dir():
        raise ConfigError(f"study folder '{folder}' does not exist")
    if not path.is_file():
        raise ConfigError(f"'{folder}' is not a study folder (no results.json)", "give a folder 'simrl tune' wrote")
    try:
        doc = json.loads(path.read_text())
        trials = [TrialRecord(**t) for t in doc["trials"]]
        known = {f.name for f in fields(StudyResults)} - {"trials"}
        return StudyResults(**{k: v for k, v in doc.items() if k in known}, trials=trials)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, TypeError):
        raise ConfigError(
            f"'{path}' is corrupt or lacks the study's settings",
            "run the same 'simrl tune' command again to rewrite it",
        ) from None


def write_tables(folder: Path, results: StudyResults) -> list[Path]:
    """results.json, trials.csv and (once a trial is complete) best.yaml in ``folder``."""
    written = [folder / "results.json", folder / "trials.csv"]
    write_text(written[0], json.dumps(results.to_json(), indent=2, default=str) + "\n")
    names = sorted({k for t in results.trials for k in t.params})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["number", "state", "value", "duration_s", *names, "runs", "retry_of", "added_from"])
    for t in results.trials:
        w.writerow(
            [
                t.number,
                t.state,
                "" if t.value is None else t.value,
                "" if t.duration_s is None else round(t.duration_s, 3),
                *(_cell(t.params.get(n)) for n in names),
                " ".join(t.runs),
                "" if t.retry_of is None else t.retry_of,
                t.added_from or "",
            ]
        )
    write_text(written[1], buf.getvalue())
    if results.best_number is not None:
        train = ["simrl", "train", results.algo, results.env_id, "--hyperparams", "best.yaml"]
        head = (
            f"# simrl tune: best of study {results.study} (trial {results.best_number}, "
            f"{results.score} {results.best_value:.3f} over {results.seeds_per_trial} seed(s)).\n"
            f"# {shlex.join([*train, *results.demonstration_args])}\n"
        )
        body = yaml.safe_dump({results.env_id: results.best_hyperparams}, sort_keys=False, default_flow_style=None)
        written.append(folder / "best.yaml")
        write_text(written[-1], head + body)
    return written


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return value


def write_plots(folder: Path, study: Any) -> list[Path]:
    """Optuna's matplotlib plots as PNGs in ``folder/plots``: history, importances (two or more complete
    trials and more than one parameter), parallel coordinates, slice, intermediate values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as ovm

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    names = {k for t in complete for k in t.params}
    plots: dict[str, Any] = {
        "history": ovm.plot_optimization_history,
        "parallel_coordinate": ovm.plot_parallel_coordinate,
        "slice": ovm.plot_slice,
        "intermediate_values": ovm.plot_intermediate_values,
    }
    if len(complete) >= 2 and len(names) > 1:
        plots["importances"] = ovm.plot_param_importances
    out = folder / "plots"
    out.mkdir(exist_ok=True)
    written = []
    for name, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning for its matplotlib back end
            ax = plot(study)
        fig = np.atleast_1d(ax).flat[0].figure
        fig.set_size_inches(max(fig.get_size_inches()[0], 8), max(fig.get_size_inches()[1], 5))
        path = out / f"{name}.png"
        buf = io.BytesIO()  # written whole: several workers of one study draw the plots as each ends
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        write_bytes(path, buf.getvalue())
        plt.close(fig)
        written.append(path)
    return written


def study_worker(plan: Any, index: int) -> int:
    """An executor's task (``simrl tune --workers N``, ``--ray``): one more worker of the open study, run until
    it has its trials; returns the finished trials. Its lines are prefixed ``w<index>``, its outputs rewritten
    after each trial as a ``simrl tune`` process's are."""
    from simrl.experiments.hpo import finished_trials, run_study

    def write(study: Any) -> None:
        write_tables(plan.settings.folder, collect(plan, study))

    def log(line: str) -> None:
        print(f"w{index}: {line}", flush=True)

    return finished_trials(run_study(plan, log=log, after_trial=write))
