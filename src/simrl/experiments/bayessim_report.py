"""The plots and the HTML page of a BayesSim run folder, rendered from its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from simrl.experiments.bayessim_summary import BayesSimSummary, Improvement, MethodResult


def write_report(folder: Path, preset: Any, prior: Any, summary: BayesSimSummary, runs: dict[str, list[Path]]) -> Path:
    """plots/*.png and report.html for a finished BayesSim run.

    Args:
        folder: the run folder (its posterior/samples.npz is plotted).
        preset: the run's :class:`~simrl.experiments.bayessim.Preset`.
        prior: the box prior.
        summary: what the run found.
        runs: each method's training run folders (their learning curves are plotted).
    """
    from simrl.evaluation import plots
    from simrl.evaluation import report as page
    from simrl.evaluation.inference_plots import posterior_pairs, returns_by_system
    from simrl.evaluation.stats import curve_iqm
    from simrl.experiments.results import load_run

    truth = summary.true_params
    plot_dir = folder / "plots"
    with np.load(folder / "posterior" / "samples.npz", allow_pickle=False) as npz:
        samples = npz["samples"]
    images = [
        (
            "Posterior samples against the prior box (dashed); the star is the true system.",
            posterior_pairs(
                samples,
                prior.names,
                plot_dir / "posterior_pairs.png",
                low=prior.low,
                high=prior.high,
                truth=[truth[n] for n in prior.names],
                title="BayesSim posterior",
            ),
        )
    ]

    curves = {}
    for method, method_runs in runs.items():
        data = [load_run(r) for r in method_runs]
        t = data[0].timesteps
        per_run = np.stack([d.results.mean(axis=1)[: len(t)] for d in data])
        c = curve_iqm(per_run, rng=0)
        curves[method] = (t, np.array(c["iqm"]), np.array(c["lo"]), np.array(c["hi"]))
    images.append(
        (
            "Learning curves on the nominal pendulum (IQM over seeds, 95% CI): PPO with uniform and with "
            "posterior randomization, same budget and seeds.",
            plots.iqm_curves(curves, plot_dir / "learning_curves.png", title="Training"),
        )
    )
    res = summary.systems
    images.append(
        (
            "Episode returns per test system (all seeds' episodes), per method.",
            returns_by_system(
                {s: {m: np.array(r.method(m).returns) for m in ("uniform", "posterior")} for s, r in res.items()},
                plot_dir / "returns_by_system.png",
                title="Returns per system",
            ),
        )
    )
    rob = summary.robustness
    axes = [(n, np.asarray(v)) for n, v in rob.axes.items()]
    mark = tuple(truth[n] for n, _ in axes)
    for method, m in rob.maps.items():
        images.append(
            (
                f"Robustness of {method} randomization over the prior box (mean over seeds).",
                plots.robustness(
                    axes,
                    np.array(m),
                    plot_dir / f"robustness_{method}.png",
                    title=f"{method} randomization",
                    mark=mark,
                    mark_label="real system",
                ),
            )
        )
    diff = np.asarray(rob.maps["posterior"]) - np.asarray(rob.maps["uniform"])
    images.append(
        (
            "Posterior minus uniform: positive where posterior randomization is better.",
            plots.robustness(
                axes,
                diff,
                plot_dir / "robustness_diff.png",
                title="posterior − uniform",
                diff=True,
                mark=mark,
                mark_label="real system",
            ),
        )
    )

    inf = summary.inference

    def ci(v: MethodResult) -> str:
        return page.format_ci(v.iqm, *v.iqm_ci)

    def pct(v: Improvement) -> str:
        return f"{v.percent:+.1f}%" + (f" [{v.ci[0]:+.1f}, {v.ci[1]:+.1f}]" if v.ci else "")

    def poi(v: Improvement) -> str:
        return "" if v.p_ci is None else f"{v.p_posterior_better:.2f} [{v.p_ci[0]:.2f}, {v.p_ci[1]:.2f}]"

    rows = [
        [
            s,
            page.format_value(r.uniform.mean),
            ci(r.uniform),
            page.format_value(r.posterior.mean),
            ci(r.posterior),
            pct(r.improvement),
            poi(r.improvement),
        ]
        for s, r in res.items()
    ]
    rows.append(["Overall (sum over systems)", "", "", "", "", pct(summary.overall), ""])
    headline = [
        page.Stat("true system", ", ".join(f"{k} {v:g}" for k, v in truth.items()), "hidden from inference"),
        page.Stat(
            "posterior mean",
            ", ".join(f"{k} {v:.3f}" for k, v in inf.posterior_mean.items()),
            "90% CI holds the truth: " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in inf.truth_in_ci90.items()),
        ),
        page.Stat(
            "real system: posterior vs uniform", pct(res["Real"].improvement), f"{len(preset.seeds)} seeds, paired CI"
        ),
        page.Stat("overall", pct(summary.overall), "all four systems"),
    ]
    cov, acc, ppc = inf.coverage, inf.heldout, inf.ppc
    dist = ppc["distance"]

    def per_param(d: dict[str, float]) -> str:
        return ", ".join(f"{k} {v:.3f}" for k, v in d.items())

    diag_rows = [
        (
            f"coverage of the {', '.join(f'{float(c):.0%}' for c in cov['hpd'])} HPD regions ({cov['n']} held-out)",
            " / ".join(f"{v:.3f}" for v in cov["hpd"].values()),
        ),
        ("held-out error of the posterior mean (RMSE)", per_param(acc["rmse"])),
        ("the same for the prior mean", per_param(acc["prior_rmse"])),
        ("held-out mean log q(truth | x)", f"{acc['log_prob_truth']['mean']:.2f}"),
        (
            "predictive check: largest |z| of the observation's summaries in the posterior predictive",
            f"{ppc['max_abs_z']:.2f}",
        ),
        (
            "predictive check: median z-distance to the observation, posterior / prior",
            f"{dist['posterior']['median']:.2f} / {dist['prior']['median']:.2f} (ratio {dist['ratio']:.2f})",
        ),
    ]
    sections = [
        page.Section(
            "Test systems",
            [
                page.Table(
                    [
                        "system",
                        "uniform mean",
                        "uniform IQM [95% CI]",
                        "posterior mean",
                        "posterior IQM [95% CI]",
                        "posterior vs uniform [95% CI]",
                        "P(posterior > uniform) [95% CI]",
                    ],
                    rows,
                ),
                page.Paragraph(
                    "Each policy is evaluated on the same episode seeds; statistics are over training seeds "
                    "(one score per policy: its mean return). Improvement is (posterior − uniform) / |uniform|,"
                    " with a 95% bootstrap CI resampling seeds in pairs; P(posterior > uniform) is the probability "
                    "of improvement over seeds (Agarwal et al. 2021)."
                ),
            ],
        ),
        page.Section(
            "Posterior",
            [
                page.Metrics(
                    [
                        ("posterior mean", ", ".join(f"{k} {v:.3f}" for k, v in inf.posterior_mean.items())),
                        ("posterior std", ", ".join(f"{k} {v:.3f}" for k, v in inf.posterior_std.items())),
                        ("MAP", ", ".join(f"{k} {v:.3f}" for k, v in inf.map.items())),
                        (
                            "90% credible intervals",
                            ", ".join(f"{k} [{a:.3f}, {b:.3f}]" for k, (a, b) in inf.ci90.items()),
                        ),
                        ("fit time", f"{inf.fit_seconds:.1f} s"),
                    ]
                ),
                page.Metrics(diag_rows),
            ],
        ),
        page.Section("Plots", [page.Image(p, caption=c) for c, p in images]),
        page.Section(
            "Configuration",
            [
                page.ConfigTable(
                    {
                        "preset": _plain(preset),
                        "true_params": dict(truth),
                        "test_systems": {s: dict(r.params) for s, r in res.items()},
                    }
                )
            ],
        ),
    ]
    return page.render_html(
        folder / "report.html",
        title="BayesSim on simrl/Pendulum-v0",
        subtitle=str(folder),
        headline=headline,
        sections=sections,
        footer="simrl bayessim",
    )


def _plain(preset: Any) -> dict[str, Any]:
    from dataclasses import asdict

    d = asdict(preset)
    d["seeds"] = list(d["seeds"])
    return d
