"""``simrl tune --warm-start STUDY``: a new study (a round) that starts from a finished one.

The new study searches its own space (``--space``, else the source's space.yaml), optionally ``--narrow F``
times narrower around the source's best; every hyper-parameter the source searched that the new space
leaves out is fixed at the source's best value (round 2 of a study searches the learning rate alone, the
rest as round 1 found it). Before its first trial, the new study is seeded with:

- the source's finished trials that are the same experiment in the new study: the same settings (algo,
  env, seeds, budget, evaluations; hpo's study identity), the same full hyper-parameters, and values
  inside the new space. They are added as finished trials (the sampler learns from them, the pruner
  compares against them), pointing at the source's run folders, and do not count towards ``--trials``;
- the source's best trial, enqueued as the first new trial, unless it was added (then it would only be
  retrained on the same seeds to the same score).

A leaf of hpo: it reads the source's results.json and its Optuna storage, never writes there.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.experiments.hpo import (
    ADDED,
    JOURNAL,
    SPACE_FILE,
    Plan,
    StudySettings,
    identity,
    preset,
    storage_at,
    trial_hyperparams,
)
from simrl.experiments.spaces import Param, default_space, parse_space

ATTR = "warm_start"
"""User attribute of a warm-started study: the source's name."""


@dataclass(frozen=True)
class Source:
    """A finished study a new one starts from."""

    folder: Path
    name: str
    algo: str
    env_id: str
    identity: dict[str, Any]
    space: dict[str, Param]
    fixed: dict[str, Any]
    best_number: int
    best_params: dict[str, Any]
    """Dotted name -> hyper-parameter value (categorical choices as their values)."""
    trials: list[Any]
    """Its complete and pruned ``optuna.trial.FrozenTrial`` records."""


def read_source(folder: Path) -> Source:
    """The study in ``folder`` (results.json and its storage), with at least one complete trial.

    Raises:
        ConfigError: not a study folder, its storage unreadable, or no complete trial.
    """
    import optuna
    from optuna.trial import TrialState

    results_path = folder / "results.json"
    if not results_path.is_file():
        raise ConfigError(f"--warm-start '{folder}' is not a study folder (no results.json)", "give a tune folder")
    try:
        results = json.loads(results_path.read_text())
        name, storage_label = str(results["study"]), str(results["storage"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"--warm-start '{folder}': results.json is not simrl tune's") from None
    journal = (folder / JOURNAL).is_file()
    if not journal and "://" not in storage_label:
        raise ConfigError(f"--warm-start '{folder}' has no {JOURNAL} and names no database")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        storage = storage_at(folder, None if journal else storage_label)
        study = optuna.load_study(study_name=name, storage=storage)
    except ConfigError as e:
        raise ConfigError(f"--warm-start '{folder}': {e.what}", e.hint) from None
    except Exception as e:  # a missing study, a driver, a database down: one line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"--warm-start '{folder}': cannot open its study: {first}") from None
    ident = study.user_attrs.get("simrl")
    if not isinstance(ident, dict):
        raise ConfigError(f"--warm-start '{folder}' was not written by simrl tune (no settings in the study)")
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    complete = [t for t in done if t.state == TrialState.COMPLETE and t.value is not None]
    if not complete:
        raise ConfigError(f"--warm-start '{folder}' has no complete trial", "run that study first")
    best = max(complete, key=lambda t: t.value)
    space_path = folder / SPACE_FILE
    if space_path.is_file():
        from simrl.experiments.hyperparams import read_yaml

        space = parse_space(read_yaml(space_path, "search space"), f"'{space_path}'")
    else:
        space = default_space(str(ident["algo"]), str(ident["env_id"]))
    params = {k: space[k].value(v) if k in space else v for k, v in best.params.items()}
    return Source(
        folder=folder,
        name=name,
        algo=str(ident["algo"]),
        env_id=str(ident["env_id"]),
        identity=ident,
        space=space,
        fixed=dict(results.get("fixed") or {}),
        best_number=best.number,
        best_params=params,
        trials=list(done),
    )


def warm_settings(settings: StudySettings, source: Source, *, space_given: bool, narrow: float | None) -> StudySettings:
    """The new study's settings: its space (the source's unless given), narrowed around the source's best,
    and the source's fixed values and best values of parameters it no longer searches, as fixed values
    (``--fix`` wins)."""
    if narrow is not None and not narrow > 1:
        raise ConfigError(f"--narrow must be greater than 1, got {narrow}", "e.g. --narrow 3: [best / 3, best * 3]")
    if settings.algo.lower() != source.algo.lower() or settings.env_id != source.env_id:
        raise ConfigError(
            f"--warm-start study '{source.name}' tuned {source.algo} on {source.env_id}, not {settings.algo} on "
            f"{settings.env_id}"
        )
    space = dict(settings.space) if space_given else dict(source.space)
    if narrow is not None:
        best = source.best_params
        space = {k: p.narrowed(best[k], narrow) if k in best else p for k, p in space.items()}
    kept = {**source.fixed, **{k: v for k, v in source.best_params.items() if k not in space}}
    kept = {k: v for k, v in kept.items() if k not in space and not _overlaps(k, space)}
    fixed = {**kept, **settings.fixed}
    at_best = tuple(k for k in fixed if k in source.best_params and k not in settings.fixed)
    return replace(settings, space=space, fixed=fixed, warm_from=source.name, fixed_at_best=at_best)


def _overlaps(key: str, space: dict[str, Param]) -> bool:
    return any(k.startswith(key + ".") or key.startswith(k + ".") for k in space)


def seed_study(study: Any, plan: Plan, source: Source) -> tuple[list[int], bool]:
    """Add the source's trials that are this study's experiments and enqueue its best (once per study).

    Returns the source trial numbers added and whether the best was enqueued.
    """
    import optuna
    from optuna.trial import TrialState

    if study.user_attrs.get(ATTR) is not None:
        return [], False
    s = plan.settings
    same_settings = source.identity == identity(s)
    source_base = trial_hyperparams(preset(s).hyperparams, source.fixed)  # warm_settings: same algo and env
    added: list[int] = []
    for t in source.trials:
        values = _in_space(plan, source, t.params)
        if not same_settings or values is None:
            continue
        source_hp = trial_hyperparams(source_base, {k: _value(source, k, v) for k, v in t.params.items()})
        if trial_hyperparams(plan.base, {k: plan.space[k].value(v) for k, v in values.items()}) != source_hp:
            continue
        runs = [os.path.relpath(source.folder / r, s.folder) for r in t.user_attrs.get("runs", [])]
        study.add_trial(
            optuna.trial.create_trial(
                state=t.state,
                value=t.value if t.state == TrialState.COMPLETE else None,
                params=values,
                distributions={k: plan.space[k].distribution() for k in values},
                intermediate_values=dict(t.intermediate_values),
                user_attrs={ADDED: f"{source.name}#{t.number}", "runs": runs},
            )
        )
        added.append(t.number)
    enqueued = False
    if source.best_number not in added:
        labels = {}
        for name, param in plan.space.items():
            label = _label_in(param, source.best_params[name]) if name in source.best_params else None
            if label is not None:
                labels[name] = label
        if labels:
            study.enqueue_trial(labels, user_attrs={"warm_start_best": f"{source.name}#{source.best_number}"})
            enqueued = True
    study.set_user_attr(ATTR, source.name)
    return added, enqueued


def _value(source: Source, name: str, stored: Any) -> Any:
    return source.space[name].value(stored) if name in source.space else stored


def _label_in(param: Param, value: Any) -> Any:
    """What Optuna stores for ``value`` in ``param``, or None when the value is outside it."""
    if param.type == "categorical":
        for label, choice in zip(param.labels, param.choices, strict=True):
            if choice == value and type(choice) is type(value):
                return label
        return None
    number = int(value) if param.type == "int" else float(value)
    return number if param.low <= number <= param.high else None  # type: ignore[operator]


def _in_space(plan: Plan, source: Source, stored: dict[str, Any]) -> dict[str, Any] | None:
    """A source trial's parameters as labels of the new space (None when one is missing or outside it)."""
    labels = {}
    for name, param in plan.space.items():
        if name not in stored:
            return None
        label = _label_in(param, _value(source, name, stored[name]))
        if label is None:
            return None
        labels[name] = label
    return labels
