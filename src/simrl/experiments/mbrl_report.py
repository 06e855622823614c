"""``simrl mbrl``'s page: the arms compared against env steps and against training wall time."""

from __future__ import annotations

from typing import Any

import numpy as np

from simrl.experiments.comparison import ArmTiming, MBRLResult


def _median_range(values: tuple[float | int | None, ...], fmt: str) -> str:
    hit = [v for v in values if v is not None]
    if not hit:
        return "never"
    text = format(float(np.median(hit)), fmt)
    if len(hit) > 1:
        text += f" [{format(min(hit), fmt)}, {format(max(hit), fmt)}]"
    if len(hit) < len(values):
        text += f" ({len(values) - len(hit)} of {len(values)} never)"
    return text


def _timing_rows(timings: tuple[ArmTiming, ...]) -> list[list[Any]]:
    return [
        [t.arm, _median_range(t.steps_to_target, ",.0f"), _median_range(t.seconds_to_target, ".0f")] for t in timings
    ]


def render(result: MBRLResult) -> Any:
    """OUT/report.html and its PNGs."""
    from simrl.evaluation import plots
    from simrl.evaluation import report as page
    from simrl.experiments.reporting import comparison_sections

    out = result.out
    wall = plots.iqm_curves(
        {t.arm: tuple(t.curve) for t in result.timings},
        out / "iqm_wall_time.png",
        title="IQM return against training time",
        xlabel="training wall time (s), evaluations excluded; median over runs",
    )
    sections = comparison_sections(
        result.comparison,
        out,
        extra_images=(
            (
                "IQM of the evaluation return against training wall time (the median over an arm's runs of the "
                "seconds spent training when each evaluation was made), 95% CI over runs.",
                wall,
            ),
        ),
    )
    if result.target is not None:
        sections.insert(
            1,
            page.Section(
                f"First evaluation at or above {result.target:g}",
                [
                    page.Table(
                        ["arm", "env steps: median [range]", "training seconds: median [range]"],
                        _timing_rows(result.timings),
                    ),
                    page.Paragraph("Over the arm's runs; a run that never reached the target is left out and counted."),
                ],
            ),
        )
    seeds = ", ".join(str(s) for s in result.seeds)
    return page.render_html(
        result.html,
        title=f"Model-based vs model-free on {result.env_id}",
        subtitle=f"{len(result.timings)} arms, {result.timesteps:,} env steps each, seeds {seeds}",
        sections=sections,
        footer="simrl mbrl",
    )
