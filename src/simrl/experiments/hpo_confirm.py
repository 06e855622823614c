"""``simrl confirm``: retrain a study's best settings and its defaults on fresh seeds, and say honestly
whether the tuned settings beat the defaults.

A study picks the best of many trials on a few seeds, so its best value is biased upwards (the winner of
many noisy draws); tuned settings that do not reproduce on other seeds are the field's common failure.
Confirming trains two groups of ``n`` runs on seeds no trial used, as ordinary run folders::

    STUDY/confirm/tuned/s<seed>/     the best trial's hyper-parameters
    STUDY/confirm/default/s<seed>/   the defaults
    STUDY/confirm/compare.json, compare.html, iqm_curves.png, performance_profile.png   (``simrl compare``'s)
    STUDY/confirm/confirm.json       the verdict

What the words mean:

- *default*: the hyper-parameters a trial starts from, the study's base: the preset for the algorithm and
  env (``simrl train``'s, the ``default:`` block under the env's block) with the study's ``--fix`` values
  applied, every searched parameter at its preset value (or the algorithm's own default when the preset
  has none). So the two groups differ only in the searched parameters, and the fixed ones (often what
  makes a run fit the study's budget) hold for both. Both groups train exactly as the trials did: the
  study's timesteps, n_envs, evaluations (``n_evaluations`` of ``eval_episodes`` episodes) and one final
  checkpoint, through the same run-folder API (:func:`simrl.experiments.training.start`).
- *fresh seeds*: ``seed + max(1000, seeds_per_trial)`` onwards, past every trial seed (trials train
  ``seed .. seed + seeds_per_trial - 1``); both groups train the same ``n`` seeds.

The comparison is ``simrl compare``'s (:func:`~simrl.experiments.reporting.compute_comparison`): each run
scores its final evaluation's mean return; each group gets its IQM with a 95% stratified-bootstrap CI,
and the pair the probability of improvement P(tuned > default) with its CI. The verdict: *beats* when
that CI lies above 0.5, *worse* when it lies below, *not reliably* when it includes 0.5, *inconclusive*
with one seed per group (no CI).

Running it again continues: finished runs are kept, unfinished ones resumed (a run's only checkpoint is
its last, so an unfinished run starts over). A run folder trained with other settings (the study's best
trial has changed since) is refused, with the folder to remove, before anything is trained.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simrl.errors import ConfigError
from simrl.experiments.config import TrainConfig
from simrl.experiments.hpo import Plan, StudySettings, check_values, preset, trial_hyperparams
from simrl.experiments.hpo_results import StudyResults, read_results
from simrl.experiments.results import write_json

FOLDER = "confirm"
GROUPS = ("tuned", "default")
SEED_OFFSET = 1000
VERDICTS = ("beats", "not_reliably", "worse", "inconclusive")
CI = tuple[float, float]


def first_fresh_seed(study: StudyResults) -> int:
    """The first confirmation seed: past every seed a trial trained (``seed + max(1000, seeds_per_trial)``)."""
    return study.seed + max(SEED_OFFSET, study.seeds_per_trial)


@dataclass(frozen=True)
class ConfirmPlan:
    """A checked confirmation: the study, the seeds, and every run's configuration."""

    folder: Path
    """The study folder."""
    study: StudyResults
    seeds: tuple[int, ...]
    configs: dict[str, tuple[TrainConfig, ...]]
    """``tuned`` and ``default`` -> one configuration per seed."""
    default_means: str
    """What ``default`` means here, in words (printed, and kept in confirm.json)."""

    @property
    def out(self) -> Path:
        return self.folder / FOLDER

    def run_dir(self, group: str, seed: int) -> Path:
        return self.out / group / f"s{seed}"


def prepare_confirm(folder: Path, seeds: int, *, device: str = "auto") -> ConfirmPlan:
    """Check everything before any training: ``seeds`` >= 1, a study folder with a complete trial, both
    groups' settings (as ``simrl train --set`` checks them), and that run folders already there were
    trained with these settings. Writes nothing.

    Raises:
        ConfigError: one line naming what is wrong.
    """
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    folder = Path(folder)
    study = read_results(folder)
    if study.best_number is None:
        states = ", ".join(sorted({t.state for t in study.trials})) or "no trials"
        raise ConfigError(
            f"study '{folder}' has no complete trial to confirm ({states})", "run 'simrl tune' until a trial completes"
        )
    settings = StudySettings(
        algo=study.algo,
        env_id=study.env_id,
        folder=folder,
        space={},
        fixed=dict(study.fixed),
        seeds_per_trial=study.seeds_per_trial,
        seed=study.seed,
        n_evaluations=study.n_evaluations,
        timesteps=study.timesteps,
        n_envs=study.n_envs,
        eval_episodes=study.eval_episodes,
        device=device,
        demos=study.demos,
        expert=study.expert,
        demo_episodes=study.demo_episodes,
    )
    start = preset(settings).hyperparams
    plans = {
        "tuned": Plan(settings, {}, trial_hyperparams(start, study.fixed)),  # the study's base
        # a warm-started round's base holds its source's best values; the default is the preset's
        "default": Plan(settings, {}, trial_hyperparams(start, study.user_fixed)),
    }
    first = first_fresh_seed(study)
    fresh = tuple(range(first, first + seeds))
    values = {"tuned": dict(study.best_params), "default": {}}
    configs = {}
    for group in GROUPS:
        try:
            configs[group] = tuple(plans[group].config(values[group], seed) for seed in fresh)
            check_values(configs[group][0])
        except ConfigError as e:
            raise ConfigError(f"the {group} settings of study '{folder}': {e.what}", e.hint) from None
    result = ConfirmPlan(folder, study, fresh, configs, _default_words(study))
    for group in GROUPS:
        for config in configs[group]:
            _check_existing(result, group, config)
    return result


def _default_words(study: StudyResults) -> str:
    what = f"the {study.algo} preset for {study.env_id}"
    if study.user_fixed:
        fixes = ", ".join(f"{k}={_plain(v)}" for k, v in study.user_fixed.items())
        what += f" with the study's --fix values ({fixes})"
    return (
        f"{what}, every searched parameter at its preset value (or the algorithm's default), "
        "trained and evaluated as the trials were"
    )


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _check_existing(plan: ConfirmPlan, group: str, config: TrainConfig) -> None:
    """A run folder already there must hold this run (any device); a leftover of other settings is refused."""
    from simrl.experiments.runfolder import RunFolder

    path = plan.run_dir(group, config.seed)
    if not path.exists():
        return
    there = TrainConfig.from_dict(RunFolder.open(path).read_config()).to_dict()
    here = config.to_dict()
    differ = [k for k in _differ(there, here) if k not in ("device", "hyperparams")]
    differ += [f"hyperparams.{k}" for k in _differ(there["hyperparams"], here["hyperparams"])]
    if differ:
        why = "the study's best trial may have changed" if group == "tuned" else "the preset may have changed"
        raise ConfigError(
            f"'{path}' was trained with other settings ({', '.join(sorted(differ))}): {why}",
            f"remove '{path.parent}' to train the {group} runs again"
            + (f", with trial {plan.study.best_number}'s settings" if group == "tuned" else ""),
        )


def _differ(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two mappings (a key only one has included)."""
    missing = object()
    return [k for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


# ------------------------------------------------------------------------------------------ training
def train_runs(plan: ConfirmPlan, log: Callable[[str], None] = print) -> int:
    """Train every run that is not done yet (new ones started, unfinished ones resumed); returns how many.

    Seeds go in turn, tuned then default for each, so a confirmation cut short holds balanced groups.
    """
    from simrl.experiments.imitating import start
    from simrl.experiments.runfolder import RunFolder
    from simrl.experiments.training import resume

    trained = 0
    for i, seed in enumerate(plan.seeds):
        for group in GROUPS:
            config = plan.configs[group][i]
            path = plan.run_dir(group, seed)
            what = f"confirm {group} s{seed}"
            if path.exists() and RunFolder.open(path).read_meta().get("status") == "done":
                log(f"{what}: done, kept")
                continue
            started = time.monotonic()
            if path.exists():
                run = resume(path)
                how = "resumed"
            else:
                run = start(config, path.parent, path.name, f"simrl confirm: {group}, seed {seed}")
                how = "trained"
            summary = run.train()
            if summary.final_mean is None or not math.isfinite(summary.final_mean):
                raise ConfigError(f"'{path}' ended without an evaluation")
            trained += 1
            log(f"{what}: {how}, final {summary.final_mean:.2f} ({time.monotonic() - started:.1f} s)")
    return trained


# ------------------------------------------------------------------------------------------ the verdict
@dataclass(frozen=True)
class GroupResult:
    """One group's runs on the fresh seeds (scores: each run's mean return in its final evaluation)."""

    name: str
    runs: tuple[str, ...]
    """Run folders, relative to the study folder."""
    finals: tuple[float, ...]
    iqm: float
    iqm_ci: CI | None
    """None with one run: no interval."""
    mean: float
    timesteps: int
    """The timesteps each run trained (the budget rounded up to whole collection units)."""
    hyperparams: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ConfirmResult:
    """What confirm.json holds: both groups, the probability of improvement, the verdict."""

    study: str
    algo: str
    env_id: str
    best_number: int
    study_value: float
    """The best trial's value in the study (its ``score`` over the trial seeds)."""
    score: str
    trial_seeds: tuple[int, ...]
    seeds: tuple[int, ...]
    default_means: str
    tuned: GroupResult
    default: GroupResult
    p_tuned_better: float
    p_ci: CI | None
    verdict: str
    """beats, not_reliably, worse or inconclusive."""
    line: str
    """The verdict as one sentence."""
    notes: tuple[str, ...] = ()
    """Caveats: few seeds, groups trained for different timesteps, the study's value outside the CI."""

    def to_json(self) -> dict[str, Any]:
        def group(g: GroupResult) -> dict[str, Any]:
            return {
                "runs": list(g.runs),
                "finals": list(g.finals),
                "iqm": g.iqm,
                "iqm_ci": None if g.iqm_ci is None else list(g.iqm_ci),
                "mean": g.mean,
                "timesteps": g.timesteps,
                "hyperparams": g.hyperparams,
            }

        return {
            "study": self.study,
            "algo": self.algo,
            "env_id": self.env_id,
            "best_trial": self.best_number,
            "study_value": self.study_value,
            "score": self.score,
            "trial_seeds": list(self.trial_seeds),
            "seeds": list(self.seeds),
            "default_means": self.default_means,
            "groups": {"tuned": group(self.tuned), "default": group(self.default)},
            "p_tuned_better": self.p_tuned_better,
            "p_ci": None if self.p_ci is None else list(self.p_ci),
            "verdict": self.verdict,
            "line": self.line,
            "notes": list(self.notes),
            "compare": "compare.html",
        }


def verdict(p: float, ci: CI | None) -> tuple[str, str]:
    """(verdict, sentence) from P(tuned > default) and its 95% CI."""
    if ci is None:
        return "inconclusive", (
            f"cannot tell with one seed per group: P(tuned > default) = {p:.2f} has no CI (confirm with more --seeds)"
        )
    lo, hi = ci
    where = f"P(tuned > default) = {p:.2f} [{lo:.2f}, {hi:.2f}]"
    if lo > 0.5:
        return "beats", f"tuned beats default: {where}"
    if hi < 0.5:
        return "worse", f"tuned is WORSE than default: {where} (the CI lies below 0.5)"
    return "not_reliably", f"tuned does NOT reliably beat default: {where} (the CI includes 0.5)"


def summarize(plan: ConfirmPlan, comparison: Any) -> ConfirmResult:
    """The confirmation's result from the comparison of its two groups."""
    from simrl.evaluation.report import format_ci, format_value
    from simrl.experiments.runfolder import RunFolder

    stats = {g.group: g for g in comparison.groups}
    pair = comparison.pairs[0]
    assert (pair.x, pair.y) == GROUPS
    groups = {}
    for name in GROUPS:
        g = stats[name]
        runs = tuple(plan.run_dir(name, seed) for seed in plan.seeds)
        finals = tuple(r.final_mean for r in comparison.runs if r.group == name)
        groups[name] = GroupResult(
            name=name,
            runs=tuple(str(r.relative_to(plan.folder)) for r in runs),
            finals=finals,
            iqm=g.iqm,
            iqm_ci=g.iqm_ci,
            mean=g.mean,
            timesteps=int(RunFolder.open(runs[0]).read_meta().get("timesteps_total", 0)),
            hyperparams=plan.configs[name][0].hyperparams,
        )
    kind, line = verdict(pair.p_x_better, pair.ci)
    s = plan.study
    notes = []
    if len(plan.seeds) < 3:
        notes.append(f"only {len(plan.seeds)} seed(s) per group: too few for a trustworthy CI")
    if groups["tuned"].timesteps != groups["default"].timesteps:
        notes.append(
            f"the groups trained different timesteps (tuned {groups['tuned'].timesteps:,}, default "
            f"{groups['default'].timesteps:,}): the budget is rounded up to whole collection units"
        )
    tuned = groups["tuned"]
    if tuned.iqm_ci is not None and s.best_value is not None and not tuned.iqm_ci[0] <= s.best_value <= tuned.iqm_ci[1]:
        notes.append(
            f"the study scored trial {s.best_number} {format_value(s.best_value)} on its own seeds; on fresh seeds "
            f"the tuned IQM is {format_ci(tuned.iqm, *tuned.iqm_ci)}"
        )
    return ConfirmResult(
        study=s.study,
        algo=s.algo,
        env_id=s.env_id,
        best_number=int(s.best_number),  # type: ignore[arg-type]
        study_value=float(s.best_value),  # type: ignore[arg-type]
        score=s.score,
        trial_seeds=tuple(range(s.seed, s.seed + s.seeds_per_trial)),
        seeds=plan.seeds,
        default_means=plan.default_means,
        tuned=groups["tuned"],
        default=groups["default"],
        p_tuned_better=pair.p_x_better,
        p_ci=pair.ci,
        verdict=kind,
        line=line,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class ConfirmReport:
    """What :func:`confirm` did: the result, its files, how many runs it trained and how long it took."""

    result: ConfirmResult
    json: Path
    compare_json: Path
    compare_html: Path
    trained: int
    seconds: float


def confirm(plan: ConfirmPlan, log: Callable[[str], None] = print) -> ConfirmReport:
    """Train what is missing, compare the groups, write compare.json, the compare page and confirm.json."""
    from simrl.experiments.reporting import compute_comparison, render_comparison, write_comparison

    started = time.monotonic()
    trained = train_runs(plan, log)
    dirs = [plan.run_dir(g, seed) for g in GROUPS for seed in plan.seeds]
    labels = [g for g in GROUPS for _ in plan.seeds]
    comparison = compute_comparison(dirs, labels=labels, group_by=["tuned or default settings"])
    compare_json = write_comparison(comparison, plan.out)
    html = render_comparison(comparison, plan.out)
    result = summarize(plan, comparison)
    write_json(plan.out / "confirm.json", result.to_json())
    return ConfirmReport(result, plan.out / "confirm.json", compare_json, html, trained, time.monotonic() - started)


def read_confirm(folder: Path) -> dict[str, Any] | None:
    """STUDY/confirm/confirm.json as a mapping, or None when the study has not been confirmed.

    Raises:
        ConfigError: a confirm.json that is not a JSON object.
    """
    path = Path(folder) / FOLDER / "confirm.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if not isinstance(doc, dict) or not {"groups", "verdict", "line"} <= set(doc):
        raise ConfigError(f"'{path}' is corrupt", f"run 'simrl confirm {folder}' again to rewrite it")
    return doc
