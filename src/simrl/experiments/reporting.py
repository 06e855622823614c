"""``simrl report`` and ``simrl compare``: plots, statistics and one HTML page from run folders."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import ConfigError, SimrlError
from simrl.evaluation.evaluate import METRIC, TERM
from simrl.experiments.comparison import (
    Comparison,
    Curve,
    GridComparison,
    GroupStats,
    PairResult,
    Profile,
    RunScore,
)
from simrl.experiments.results import CheckpointEval, RunData, group_runs, info_means, load_run, write_json

BOOT_SEED = 0  # bootstrap CIs are reproducible: the same runs give the same report
FEW_RUNS = 3


def _title(run: RunData) -> str:
    return f"{run.config.algo.upper()} on {run.config.env_id} (seed {run.config.seed})"


def run_plots(run: RunData, plots_dir: Path) -> list[tuple[str, Path]]:
    """The plots of the whole run, as (caption, path) in the order the report shows them."""
    from simrl.evaluation import plots

    mean, std = run.results.mean(axis=1), run.results.std(axis=1)
    t = _title(run)
    out = [
        (
            "Evaluation return over training (mean ± std over episodes).",
            plots.learning_curve(run.timesteps, mean, std, plots_dir / "learning_curve.png", title=t),
        ),
        (
            "The same curve over the random policy's band, on the same episode seeds.",
            plots.comparison(run.timesteps, mean, std, run.random, plots_dir / "comparison.png", title=t),
        ),
    ]
    if run.checkpoints:
        labels = [f"{c.pct}%" for c in run.checkpoints]
        out.append(
            (
                "Mean return at each checkpoint (error bars: std over episodes).",
                plots.checkpoint_means(
                    labels,
                    [c.returns.mean() for c in run.checkpoints],
                    [c.returns.std() for c in run.checkpoints],
                    plots_dir / "checkpoint_means.png",
                    title=t,
                    random_mean=float(run.random.mean()),
                    random_std=float(run.random.std()),
                ),
            )
        )
    return out


def checkpoint_plots(run: RunData, c: CheckpointEval, plots_dir: Path) -> list[tuple[str, Path]]:
    """A checkpoint's box plot and histogram of episode returns against the random policy's."""
    from simrl.evaluation import plots

    name = f"{c.pct:03d}"
    label = f"checkpoint {c.pct}% (step {c.step:,}): trained vs random"
    return [
        (
            f"Checkpoint {c.pct}%: trained vs random, one point per episode.",
            plots.boxplot(c.returns, run.random, plots_dir / f"boxplot_{name}.png", title=label),
        ),
        (
            f"Checkpoint {c.pct}%: distribution of episode returns.",
            plots.histogram(c.returns, run.random, plots_dir / f"hist_{name}.png", title=label),
        ),
    ]


def _checkpoint_section(run: RunData, c: CheckpointEval, images: list[tuple[str, Path]], video: Path | None):
    """A checkpoint's returns, its rollout video (if recorded) and its plots, side by side."""
    from simrl.evaluation import report as page
    from simrl.evaluation.stats import iqm

    r = c.returns
    blocks: list[Any] = [
        page.Metrics(
            [
                ("step", f"{c.step:,}"),
                ("mean ± std", page.format_mean_std(float(r.mean()), float(r.std()))),
                ("IQM", page.format_value(float(iqm(r)))),
                ("min, max", f"{page.format_value(float(r.min()))}, {page.format_value(float(r.max()))}"),
                ("random mean ± std", page.format_mean_std(float(run.random.mean()), float(run.random.std()))),
                ("episodes", r.size),
            ]
        )
    ]
    if video is not None:
        what = "deterministic, on the first evaluation episode's seed"
        blocks.append(page.Video(video, caption=f"Rollout of the checkpoint's policy ({what}): videos/{video.name}"))
    blocks += [page.Image(p, caption=caption) for caption, p in images]
    return page.Section(f"Checkpoint {c.pct}% (step {c.step:,})", blocks)


def _run_info_section(run: RunData, plots_dir: Path) -> tuple[Any, list[Path]] | None:
    """What the return is made of at each checkpoint (the final evaluation for a run without any) and
    the random policy's, stacked, and a table of the terms and measures; None when the env reports none."""
    from simrl.evaluation import plots
    from simrl.evaluation import report as page

    if run.checkpoints:
        rows = [(f"{c.pct}% (step {c.step:,})", f"{c.pct}%", info_means(c.info)) for c in run.checkpoints]
    else:
        rows = [(f"final (step {int(run.timesteps[-1]):,})", "final", run.final_info)]
    rows.append(("random policy", "random", info_means(run.random_info)))
    if not any(info for *_, info in rows):
        return None
    blocks: list[Any] = [info_table([r[0] for r in rows], [r[2] for r in rows], "policy")]
    keys = [k for k in rows[0][2] if k.startswith(TERM)]
    png: list[Path] = []
    if keys and all(k in info for *_, info in rows for k in keys):
        terms = {k: [info[k] for *_, info in rows] for k in keys}
        png.append(plots.reward_terms([r[1] for r in rows], terms, plots_dir / "reward_terms.png", title=_title(run)))
        blocks.append(page.Image(png[0], caption=_TERMS_CAPTION + " Means over evaluation episodes."))
    return page.Section("Reward terms and measures", blocks), png


def run_metrics(run: RunData) -> dict[str, Any]:
    """The headline numbers of a run (JSON-ready)."""
    from simrl.evaluation.stats import bootstrap_ci, iqm

    final = run.final
    lo, hi = bootstrap_ci(final, iqm, rng=BOOT_SEED)
    return {
        "final_mean": float(final.mean()),
        "final_std": float(final.std()),
        "episodes": int(final.size),
        "iqm": float(iqm(final)),
        "iqm_ci": [float(lo), float(hi)],
        "random_mean": float(run.random.mean()),
        "random_std": float(run.random.std()),
        "best_mean": float(run.results.mean(axis=1).max()),
        "timesteps": int(run.meta.get("timesteps_done", run.timesteps[-1])),
        "timesteps_total": int(run.meta.get("timesteps_total", run.timesteps[-1])),
        "wall_time_s": float(run.meta.get("wall_time_s", 0.0)),
        "status": run.meta.get("status", "unknown"),
        "info": run.final_info,
    }


def report(run_dir: Path, *, video: bool = False, device: str = "cpu") -> dict[str, Any]:
    """Write RUN_DIR/plots/*.png and RUN_DIR/report.html.

    Each checkpoint gets a section with its returns, box plot and histogram, and its rollout video if
    ``videos/NNN.gif`` (or ``.mp4``) exists. With ``video``, every checkpoint is recorded first
    (:func:`~simrl.experiments.recording.record_checkpoints`); an env that cannot render frames leaves the
    page without videos and says why (``no_video`` in the result), it does not fail the report.
    """
    from simrl.errors import EnvError
    from simrl.evaluation import report as page
    from simrl.experiments.recording import checkpoint_video, default_output
    from simrl.experiments.runfolder import RunFolder

    started = time.monotonic()
    run = load_run(run_dir)
    no_video = None
    if video:
        from simrl.experiments.recording import record_checkpoints

        try:
            record_checkpoints(run_dir, device=device)
        except EnvError as e:  # nothing was written: the page goes without videos
            no_video = e.line().removeprefix("simrl: error: ")
    final_video = default_output(run_dir, "final")  # `simrl record RUN --checkpoint final`
    images = run_plots(run, run_dir / "plots")
    per_checkpoint = [
        (c, checkpoint_plots(run, c, run_dir / "plots"), checkpoint_video(run_dir, c.pct)) for c in run.checkpoints
    ]
    m = run_metrics(run)
    f = page.format_value
    headline = [
        page.Stat("final return", page.format_mean_std(m["final_mean"], m["final_std"]), f"{m['episodes']} episodes"),
        page.Stat("IQM, 95% CI", page.format_ci(m["iqm"], *m["iqm_ci"]), "bootstrap over episodes"),
        page.Stat("random policy", page.format_mean_std(m["random_mean"], m["random_std"]), "same episode seeds"),
        page.Stat("timesteps", f(m["timesteps"]), f"of {f(m['timesteps_total'])}, {m['status']}"),
        page.Stat("wall time", f"{m['wall_time_s']:.1f} s", "training and evaluation"),
    ]
    metrics = page.Metrics(
        [
            ("final mean ± std", page.format_mean_std(m["final_mean"], m["final_std"])),
            ("final IQM [95% CI]", page.format_ci(m["iqm"], *m["iqm_ci"])),
            ("best evaluation mean", f(m["best_mean"])),
            ("random baseline mean ± std", page.format_mean_std(m["random_mean"], m["random_std"])),
            ("timesteps", f"{m['timesteps']:,} of {m['timesteps_total']:,}"),
            ("wall time", f"{m['wall_time_s']:.1f} s"),
            ("evaluations", f"{len(run.timesteps)} × {m['episodes']} episodes"),
            ("status", m["status"]),
        ]
    )
    sections = [page.Section("Results", [metrics])]
    learner_plots: list[Path] = []
    if run.config.algo == "dagger":  # its return against rounds and expert labels, the expert and BC as lines
        from simrl.experiments.dagger_report import dagger_section

        section, learner_plots = dagger_section(run, run_dir / "plots")
        sections.append(section)
    if final_video.is_file():
        rollout = page.Video(final_video, caption=final_video.name)
        sections.append(page.Section("Rollout of the final policy", [rollout]))
    info_section = _run_info_section(run, run_dir / "plots")
    if info_section is not None:
        sections.append(info_section[0])
        learner_plots += info_section[1]
    sections.append(page.Section("Plots", [page.Image(p, caption=c) for c, p in images]))
    if no_video:
        sections.append(page.Section("Videos", [page.Paragraph(f"no videos: {no_video}")]))
    sections += [_checkpoint_section(run, c, plots_, video_) for c, plots_, video_ in per_checkpoint]
    versions = run.meta.get("versions", {})
    sections.append(
        page.Section(
            "Configuration",
            [
                page.ConfigTable(run.config.to_dict()),
                page.Paragraph(f"command: {RunFolder(run_dir).command() or 'unknown'}"),
                page.Paragraph(
                    "versions: "
                    + ", ".join(f"{k} {v}" for k, v in versions.items())
                    + (f"; git commit {run.meta['git_commit']}" if run.meta.get("git_commit") else "")
                ),
            ],
        )
    )
    html = page.render_html(
        run_dir / "report.html",
        title=_title(run),
        subtitle=str(run_dir),
        headline=headline,
        sections=sections,
        footer="simrl report",
    )
    videos = [v for _, _, v in per_checkpoint if v is not None] + ([final_video] if final_video.is_file() else [])
    return {
        "html": str(html),
        "plots": [str(p) for _, p in images]
        + [str(p) for p in learner_plots]
        + [str(p) for _, plots_, _ in per_checkpoint for _, p in plots_],
        "videos": [str(v) for v in videos],
        "no_video": no_video,
        "metrics": m,
        "seconds": time.monotonic() - started,
    }


# ---------------------------------------------------------------------------------------------- compare
# compute_comparison -> a Comparison (experiments/comparison.py) -> write_comparison (compare.json) and
# render_comparison (PNGs, compare.html).


@dataclass(frozen=True)
class ComparisonReport:
    """What :func:`compare` did: the comparison, its page and how long it took."""

    comparison: Comparison
    json: Path
    html: Path
    seconds: float


def _curves(runs: list[RunData]) -> tuple[np.ndarray, np.ndarray]:
    """Per-run mean evaluation return on the timesteps all runs share (interpolated if they share few)."""
    common = sorted(set.intersection(*(set(r.timesteps.tolist()) for r in runs)))
    if len(common) >= 2:
        t = np.array(common)
        return t, np.stack([r.results.mean(axis=1)[np.searchsorted(r.timesteps, t)] for r in runs])
    hi = min(r.timesteps[-1] for r in runs)
    lo = max(r.timesteps[0] for r in runs)
    t = np.linspace(lo, hi, 20) if hi > lo else np.array([hi])
    return t, np.stack([np.interp(t, r.timesteps, r.results.mean(axis=1)) for r in runs])


def compare(
    run_dirs: list[Path],
    *,
    group_by: list[str] | None = None,
    out: Path | None = None,
    grid: list[tuple[str, list[float]]] | None = None,
    device: str = "cpu",
) -> ComparisonReport:
    """Group runs, compare groups with rliable's statistics, write compare.json, PNGs and compare.html.

    Everything is computed (and every input checked) before ``out`` is created.
    """
    started = time.monotonic()
    comparison = compute_comparison(run_dirs, group_by=group_by, grid=grid, device=device)
    out = out or Path("compare")
    out.mkdir(parents=True, exist_ok=True)
    json_path = write_comparison(comparison, out)
    html = render_comparison(comparison, out)
    return ComparisonReport(comparison, json_path, html, time.monotonic() - started)


def compute_comparison(
    run_dirs: list[Path],
    *,
    group_by: list[str] | None = None,
    grid: list[tuple[str, list[float]]] | None = None,
    device: str = "cpu",
    labels: list[str] | None = None,
) -> Comparison:
    """Load the runs, group them and compute every statistic (and, with ``grid``, each group's robustness map).

    ``labels`` (one per run folder) names the groups directly instead of config keys (``simrl confirm``'s
    tuned and default runs differ in many keys); ``group_by`` then only says what the labels mean.

    Raises:
        ConfigError: no run folders, one given twice.
        SimrlError: a folder that is not a run; a grid with fewer than two groups.
    """
    from simrl.evaluation.stats import aggregate, curve_iqm, performance_profile, probability_of_improvement

    if not run_dirs:
        raise ConfigError("compare needs at least one run folder")
    runs = [load_run(d) for d in run_dirs]
    names = [str(d.resolve()) for d in run_dirs]
    if len(set(names)) != len(names):
        raise ConfigError("the same run folder is given twice")
    envs: dict[str, int] = {}
    for r in runs:
        envs[r.config.env_id] = envs.get(r.config.env_id, 0) + 1
    if len(envs) > 1:
        held = ", ".join(f"{e} ({n} run{'s' * (n > 1)})" for e, n in envs.items())
        raise SimrlError(f"compare needs runs of one env, got {held}", "compare each env's runs separately")
    if labels is not None:
        if len(labels) != len(runs):
            raise ValueError(f"{len(labels)} labels for {len(runs)} run folders")
        groups: dict[str, list[RunData]] = {}
        for label, run in zip(labels, runs, strict=True):
            groups.setdefault(label, []).append(run)
    else:
        groups = group_runs(runs, group_by or None)
    if grid and len(groups) < 2:
        raise SimrlError(
            "compare --grid needs at least two groups to draw their difference",
            "give runs from two groups, or use 'simrl eval --grid' for one",
        )

    table = []
    scores = {g: np.array([r.final.mean() for r in rs]) for g, rs in groups.items()}
    for g, rs in groups.items():
        agg = aggregate(scores[g], rng=BOOT_SEED)
        finals = [r.final_info for r in rs]
        shared = [k for k in finals[0] if all(k in f for f in finals)]
        one = len(rs) < 2  # resampling one run gives it back every time: no interval to speak of
        table.append(
            GroupStats(
                group=g,
                runs=tuple(str(r.dir) for r in rs),
                iqm=agg["iqm"],
                iqm_ci=None if one else (agg["iqm_ci"][0], agg["iqm_ci"][1]),
                mean=agg["mean"],
                mean_ci=None if one else (agg["mean_ci"][0], agg["mean_ci"][1]),
                median=agg["median"],
                median_ci=None if one else (agg["median_ci"][0], agg["median_ci"][1]),
                n_runs=agg["n_runs"],
                warning=f"only {len(rs)} run(s): too few for a trustworthy CI" if len(rs) < FEW_RUNS else None,
                info={k: float(np.mean([f[k] for f in finals])) for k in shared},
            )
        )
    pairs = []
    labels = list(groups)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            poi = probability_of_improvement(scores[a], scores[b], rng=BOOT_SEED)
            ci = None if min(len(scores[a]), len(scores[b])) < 2 else (poi["ci"][0], poi["ci"][1])
            pairs.append(PairResult(a, b, poi["p"], ci))

    curves = {}
    for g, rs in groups.items():
        t, per_run = _curves(rs)
        c = curve_iqm(per_run, rng=BOOT_SEED)
        curves[g] = Curve(t, np.array(c["iqm"]), np.array(c["lo"]), np.array(c["hi"]))
    all_scores = np.concatenate(list(scores.values()))
    taus = (
        np.linspace(all_scores.min() - 1e-9, all_scores.max(), 50)
        if np.ptp(all_scores) > 0
        else np.linspace(all_scores.min() - 1, all_scores.max() + 1, 50)
    )
    profiles = {}
    for g in groups:
        p = performance_profile(scores[g], taus, rng=BOOT_SEED)
        profiles[g] = Profile(np.array(p["taus"]), np.array(p["fraction"]), np.array(p["lo"]), np.array(p["hi"]))
    return Comparison(
        groups=tuple(table),
        pairs=tuple(pairs),
        group_by=tuple(group_by or (["label"] if labels is not None else ["algo", "env_id"])),
        runs=tuple(
            RunScore(str(r.dir), g, float(r.final.mean()), int(r.timesteps[-1]), r.final_info)
            for g, rs in groups.items()
            for r in rs
        ),
        curves=curves,
        profiles=profiles,
        robustness=_compare_grid(groups, grid, device) if grid else None,
    )


def _with_ci(value: float, ci: tuple[float, float] | None) -> str:
    from simrl.evaluation import report as page

    return page.format_ci(value, *ci) if ci is not None else f"{page.format_value(value)} (one run: no CI)"


def write_comparison(comparison: Comparison, out: Path) -> Path:
    """OUT/compare.json, written atomically."""
    write_json(out / "compare.json", comparison.to_json())
    return out / "compare.json"


def render_comparison(comparison: Comparison, out: Path) -> Path:
    """OUT/*.png and OUT/compare.html (one self-contained page) for a comparison."""
    from simrl.evaluation import report as page

    return page.render_html(
        out / "compare.html",
        title=f"Comparison of {len(comparison.runs)} runs in {len(comparison.groups)} groups",
        subtitle="grouped by " + ", ".join(comparison.group_by),
        sections=comparison_sections(comparison, out),
        footer="simrl compare",
    )


def comparison_sections(
    comparison: Comparison, out: Path, *, extra_images: tuple[tuple[str, Path], ...] = ()
) -> list[Any]:
    """The page sections of a comparison (groups, plots, runs), drawing its PNGs into ``out``;
    ``extra_images`` (caption, PNG) go into the plots section after the learning curves."""
    from simrl.evaluation import plots
    from simrl.evaluation import report as page

    images = [
        (
            "IQM of the evaluation return over training, 95% stratified-bootstrap CI over runs.",
            plots.iqm_curves(comparison.curves, out / "iqm_curves.png", title="IQM sample efficiency"),
        ),
        *extra_images,
        (
            "Performance profile: fraction of runs whose final mean return exceeds τ.",
            plots.performance_profile(
                comparison.profiles, out / "performance_profile.png", title="Performance profile"
            ),
        ),
    ]
    if comparison.robustness is not None:
        images += _grid_plots(comparison.robustness, out)

    rows = [
        [
            g.group,
            len(g.runs),
            _with_ci(g.iqm, g.iqm_ci),
            page.format_value(g.mean),
            page.format_value(g.median),
            g.warning or "",
        ]
        for g in comparison.groups
    ]
    blocks: list[Any] = [page.Table(["group", "runs", "IQM [95% CI]", "mean", "median", "note"], rows)]
    if comparison.pairs:
        blocks.append(
            page.Table(
                ["X", "Y", "P(X > Y) [95% CI]"],
                [[p.x, p.y, _with_ci(p.p_x_better, p.ci)] for p in comparison.pairs],
            )
        )
    blocks.append(
        page.Paragraph(
            "Scores are each run's mean return in its final evaluation. IQM, CIs (stratified bootstrap over runs) and "
            "the probability of improvement follow Agarwal et al. (2021), 'Deep RL at the Edge of the Statistical "
            "Precipice'."
        )
    )
    sections = [page.Section("Groups", blocks)]
    info_section = _group_info_section(comparison, out)
    if info_section is not None:
        sections.append(info_section)
    sections.append(page.Section("Plots", [page.Image(p, caption=c) for c, p in images]))
    sections.append(
        page.Section(
            "Runs",
            [
                page.Table(
                    ["run", "group", "final mean", "timesteps"],
                    [[r.dir, r.group, page.format_value(r.final_mean), f"{r.timesteps:,}"] for r in comparison.runs],
                )
            ],
        )
    )
    return sections


def _group_info_section(comparison: Comparison, out: Path) -> Any:
    """What each group's return is made of (its runs' mean reward terms, stacked) and its measures; None
    when the env reports neither."""
    from simrl.evaluation import plots
    from simrl.evaluation import report as page

    groups = [g for g in comparison.groups if g.info]
    if not groups:
        return None
    labels = [g.group for g in groups]
    blocks: list[Any] = [info_table(labels, [g.info for g in groups], "group")]
    terms = {k: [g.info.get(k, np.nan) for g in groups] for k in groups[0].info if k.startswith(TERM)}
    if terms and all(np.isfinite(v).all() for v in terms.values()):
        png = plots.reward_terms(labels, terms, out / "reward_terms.png", title="What the return is made of")
        blocks.append(page.Image(png, caption=_TERMS_CAPTION + " Mean over each group's runs' final evaluations."))
    return page.Section("Reward terms and measures", blocks)


_TERMS_CAPTION = (
    "Each reward term's sum per episode, stacked (negative terms below zero); the black mark is the return."
)


def info_table(labels: list[str], infos: list[dict[str, float]], what: str) -> Any:
    """A page table: one row per label, one column per reward term (sum per episode) and measure (mean
    per step), the prefixes dropped from the headers ("term: ..." and "measure: ...")."""
    from simrl.evaluation import report as page

    keys = list(dict.fromkeys(k for info in infos for k in info))
    keys.sort(key=lambda k: (k.startswith(METRIC), k))
    header = [
        f"term: {k.removeprefix(TERM)}" if k.startswith(TERM) else f"measure: {k.removeprefix(METRIC)}" for k in keys
    ]
    rows = [[label, *(page.format_value(info.get(k)) for k in keys)] for label, info in zip(labels, infos, strict=True)]
    return page.Table([what, *header], rows)


def _compare_grid(groups: dict[str, list[RunData]], grid: list[tuple[str, list[float]]], device: str) -> GridComparison:
    """Each group's robustness map (mean over its runs' final policies) and the difference to the first group."""
    from simrl.evaluation.robustness import Axis, evaluate_grid
    from simrl.experiments.targets import resolve_target

    if len(groups) < 2:
        raise SimrlError(
            "compare --grid needs at least two groups to draw their difference",
            "give runs from two groups, or use 'simrl eval --grid' for one",
        )
    axes = [Axis(n, np.asarray(v, dtype=np.float64)) for n, v in grid]
    maps = {}
    for g, rs in groups.items():
        per_run = []
        for r in rs:
            t = resolve_target(r.dir, which="final", device=device)
            per_run.append(
                evaluate_grid(t.model, t.env_id, axes, t.episodes, params=t.params, env_kwargs=t.env_kwargs).mean
            )
        maps[g] = np.mean(per_run, axis=0)
    labels = list(maps)
    diffs = {g: maps[g] - maps[labels[0]] for g in labels[1:]}
    return GridComparison(tuple((a.name, a.values) for a in axes), maps, diffs)


def _grid_plots(grid: GridComparison, out: Path) -> list[tuple[str, Path]]:
    """Each group's robustness map and each difference to the first group, as (caption, path)."""
    from simrl.evaluation import plots

    images = []
    slug = {g: "".join(ch if ch.isalnum() else "_" for ch in g) for g in grid.maps}
    for g, m in grid.maps.items():
        images.append(
            (
                f"Robustness of group '{g}': mean return per cell, averaged over its runs.",
                plots.robustness(grid.axes, m, out / f"robustness_{slug[g]}.png", title=f"{g}"),
            )
        )
    first = next(iter(grid.maps))
    for g, d in grid.diff_to_first.items():
        images.append(
            (
                f"Difference '{g}' minus '{first}' (positive: '{g}' is better).",
                plots.robustness(
                    grid.axes, d, out / f"robustness_diff_{slug[g]}.png", title=f"{g} − {first}", diff=True
                ),
            )
        )
    return images
