"""A study's page, STUDY/report.html: its settings, the best trial, the confirmation, the plots, every trial.

Written from the study folder's files alone (results.json, plots/*.png, confirm/confirm.json), so
``simrl report STUDY`` makes it again at any time; ``simrl tune`` writes it when the study ends and
``simrl confirm`` when it has confirmed. One self-contained page (evaluation/report.py): the plots are
embedded, and the trials' run folders and the confirmation's compare page are relative links.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from simrl.experiments.hpo_confirm import FOLDER as CONFIRM_FOLDER
from simrl.experiments.hpo_confirm import read_confirm
from simrl.experiments.hpo_results import StudyResults, TrialRecord, read_results

PLOTS = {
    "history": "Optimization history: each complete trial's value and the best so far.",
    "importances": "Hyper-parameter importances (fANOVA over the complete trials).",
    "parallel_coordinate": "Parallel coordinates: every complete trial's parameters, coloured by its value.",
    "slice": "Each parameter against the trial value.",
    "intermediate_values": "Intermediate values: the running mean over seeds at each evaluation (what the pruner saw).",
}


def is_study(folder: Path) -> bool:
    """A folder ``simrl tune`` wrote (results.json, no run folder's config.yaml)."""
    folder = Path(folder)
    return (folder / "results.json").is_file() and not (folder / "config.yaml").is_file()


def train_command(study: StudyResults, folder: Path) -> str:
    """The ``simrl train`` line that trains the best trial's settings (best.yaml)."""
    best = str(Path(folder).resolve() / "best.yaml")
    return shlex.join(["simrl", "train", study.algo, study.env_id, "--hyperparams", best, *study.demonstration_args])


def write_study_report(folder: Path) -> Path:
    """Write STUDY/report.html and return its path.

    Raises:
        ConfigError: not a study folder, or a corrupt results.json or confirm.json.
    """
    from simrl.evaluation import report as page

    folder = Path(folder)
    study = read_results(folder)
    confirmed = read_confirm(folder)
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    f = page.format_value
    headline = [
        page.Stat("trials", len(study.trials), ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))),
    ]
    if study.best_number is not None:
        headline.append(
            page.Stat(
                f"best {study.score}",
                f(study.best_value),
                f"trial {study.best_number}, over {study.seeds_per_trial} seed(s)",
            )
        )
    if confirmed is not None:
        ci = confirmed["p_ci"]
        p = f"{confirmed['p_tuned_better']:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        headline.append(page.Stat("P(tuned > default)", p, _VERDICT_WORDS.get(confirmed["verdict"], "")))
    sections = [_best_section(study, folder), _confirm_section(folder, confirmed)]
    plots = _plots(folder)
    sections.append(
        page.Section(
            "Plots",
            plots or [page.Paragraph("no plots yet: Optuna's plots are drawn when a study with a complete trial ends")],
        )
    )
    sections.append(_trials_section(study, folder))
    sections.append(_settings_section(study))
    return page.render_html(
        folder / "report.html",
        title=f"{study.algo.upper()} on {study.env_id}: study {study.study}",
        subtitle=str(folder),
        headline=headline,
        sections=sections,
        footer="simrl tune",
    )


_VERDICT_WORDS = {
    "beats": "tuned beats default",
    "not_reliably": "tuned does NOT reliably beat default",
    "worse": "tuned is worse than default",
    "inconclusive": "one seed per group: no CI",
}


def _best_section(study: StudyResults, folder: Path) -> Any:
    from simrl.evaluation import report as page

    if study.best_number is None:
        return page.Section("Best trial", [page.Paragraph("no trial has completed yet")])
    best = next(t for t in study.trials if t.number == study.best_number)
    return page.Section(
        "Best trial",
        [
            page.Metrics(
                [
                    ("trial", study.best_number),
                    (f"value ({study.score} of final evaluation means)", page.format_value(study.best_value)),
                    ("seeds", ", ".join(r.rsplit("/s", 1)[-1] for r in best.runs)),
                ]
            ),
            page.ConfigTable(study.best_params),
            page.Paragraph("Train with these settings (best.yaml holds them, with the --fix values):"),
            page.Code(train_command(study, folder)),
            page.Paragraph(
                f"Each trial run trained {study.timesteps:,} timesteps: add --timesteps {study.timesteps} to train "
                "as a trial did (without it, the preset's budget)."
                if study.timesteps
                else "The trial runs trained the preset's budget."
            ),
            page.Link("best.yaml", "best.yaml"),
        ],
    )


def _confirm_section(folder: Path, confirmed: dict[str, Any] | None) -> Any:
    from simrl.evaluation import report as page

    title = "Confirmation on fresh seeds"
    if confirmed is None:
        return page.Section(
            title,
            [
                page.Paragraph(
                    "Not confirmed yet. A study's best value is the best of many noisy trials and is biased upwards; "
                    "retrain the best and the default settings on fresh seeds to see whether tuning really helped:"
                ),
                page.Code(shlex.join(["simrl", "confirm", str(folder), "--seeds", "10"])),
            ],
        )
    rows = []
    for name in ("tuned", "default"):
        g = confirmed["groups"][name]
        ci = g["iqm_ci"]
        iqm = page.format_ci(g["iqm"], *ci) if ci else f"{page.format_value(g['iqm'])} (one run: no CI)"
        links = tuple(page.Link(Path(r).name, _run_href(folder, r)) for r in g["runs"])
        rows.append([name, len(g["runs"]), iqm, page.format_value(g["mean"]), f"{g['timesteps']:,}", links])
    ci = confirmed["p_ci"]
    p = page.format_ci(confirmed["p_tuned_better"], *ci) if ci else f"{confirmed['p_tuned_better']:.2f} (no CI)"
    seeds = confirmed["seeds"]
    blocks: list[Any] = [
        page.Paragraph(f"Verdict: {confirmed['line']}"),
        page.Table(["settings", "seeds", "IQM [95% CI]", "mean", "timesteps", "runs"], rows),
        page.Metrics(
            [
                ("P(tuned > default) [95% CI]", p),
                (f"study value of trial {confirmed['best_trial']}", page.format_value(confirmed["study_value"])),
                ("trial seeds", ", ".join(map(str, confirmed["trial_seeds"]))),
                ("fresh seeds", f"{seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])),
            ]
        ),
        page.Paragraph(f"default: {confirmed['default_means']}."),
    ]
    blocks += [page.Paragraph(f"Note: {n}.") for n in confirmed.get("notes", [])]
    blocks.append(
        page.Paragraph(
            "Scores are each run's mean return in its final evaluation; IQM with a 95% stratified-bootstrap CI "
            "and the probability of improvement as in 'simrl compare' (Agarwal et al., 2021). "
            "The verdict needs the CI of P(tuned > default) to lie above 0.5."
        )
    )
    blocks.append(page.Link("The comparison's own page: confirm/compare.html", f"{CONFIRM_FOLDER}/compare.html"))
    for name, caption in (
        ("iqm_curves", "IQM of the evaluation return over training, tuned vs default (95% CI over runs)."),
        ("performance_profile", "Performance profile: the fraction of runs whose final mean return exceeds τ."),
    ):
        path = folder / CONFIRM_FOLDER / f"{name}.png"
        if path.is_file():
            blocks.append(page.Image(path, caption=f"{caption} ({CONFIRM_FOLDER}/{path.name})"))
    return page.Section(title, blocks)


def _plots(folder: Path) -> list[Any]:
    from simrl.evaluation import report as page

    found = sorted((folder / "plots").glob("*.png")) if (folder / "plots").is_dir() else []
    order = {name: i for i, name in enumerate(PLOTS)}
    found.sort(key=lambda p: (order.get(p.stem, len(order)), p.name))
    return [page.Image(p, caption=f"{PLOTS.get(p.stem, p.stem)} (plots/{p.name})") for p in found]


def _run_href(folder: Path, run: str) -> str:
    """A run's page when ``simrl report`` has written it, else its folder."""
    return f"{run}/report.html" if (folder / run / "report.html").is_file() else f"{run}/"


def _trials_section(study: StudyResults, folder: Path) -> Any:
    from simrl.evaluation import report as page

    names = sorted({k for t in study.trials for k in t.params})
    rows = [
        [
            t.number,
            t.state
            + (" (best)" if t.number == study.best_number else "")
            + (f" (retry of {t.retry_of})" if t.retry_of is not None else "")
            + (f" (added from {t.added_from})" if t.added_from else ""),
            page.format_value(t.value),
            "—" if t.duration_s is None else f"{t.duration_s:.1f} s",
            tuple(page.Link(Path(r).name, _run_href(folder, r)) for r in t.runs) or "—",
            *(_param(t, n) for n in names),
        ]
        for t in sorted(study.trials, key=lambda t: t.number)
    ]
    return page.Section(
        "Trials",
        [
            page.Table(["trial", "state", "value", "duration", "runs", *names], rows),
            page.Paragraph(
                "value: the trial's score over its seeds (complete trials only); runs: its run folders, "
                "trials/<n>/s<seed> (simrl report and compare read them)."
            ),
        ],
    )


def _param(t: TrialRecord, name: str) -> str:
    from simrl.evaluation import report as page

    if name not in t.params:
        return ""
    value = t.params[name]
    return json.dumps(value) if isinstance(value, list | dict) else page.format_value(value)


def _settings_section(study: StudyResults) -> Any:
    from simrl.evaluation import report as page

    seeds = range(study.seed, study.seed + study.seeds_per_trial)
    rows: list[tuple[str, object]] = [
        ("algorithm", study.algo),
        ("env", study.env_id),
        ("score", f"{study.score} of the seeds' final evaluation means"),
        ("seeds per trial", f"{study.seeds_per_trial} ({', '.join(map(str, seeds))})"),
        ("timesteps per run", study.timesteps if study.timesteps is not None else "the preset's"),
        ("n_envs", study.n_envs if study.n_envs is not None else "the preset's"),
        ("evaluations per run", f"{study.n_evaluations} × {study.eval_episodes} episodes"),
        ("sampler", study.sampler),
        ("pruner", study.pruner),
        ("storage", study.storage),
    ]
    fixed = ", ".join(f"{k}={json.dumps(v)}" for k, v in study.user_fixed.items()) or "none"
    rows.append(("fixed (--fix)", fixed))
    if study.warm_start:
        at_best = {k: study.fixed[k] for k in study.warm_start["fixed_at_best"] if k in study.fixed}
        kept = ", ".join(f"{k}={json.dumps(v)}" for k, v in at_best.items()) or "none"
        rows.append(("warm start", f"from study {study.warm_start['study']}; fixed at its best: {kept}"))
    space = [[name, p["type"], _range(p)] for name, p in study.space.items()]
    return page.Section(
        "Study settings",
        [page.Metrics(rows), page.Table(["searched parameter", "type", "range"], space)],
    )


def _range(p: dict[str, Any]) -> str:
    if p["type"] == "categorical":
        return ", ".join(json.dumps(c) for c in p["choices"])
    return f"[{p['low']}, {p['high']}]" + (" log" if p.get("log") else "")
