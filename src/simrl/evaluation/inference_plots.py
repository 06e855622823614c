"""Plots for BayesSim: the posterior against its prior box, and returns per test system and method.

Same style and conventions as :mod:`simrl.evaluation.plots` (Agg canvas, atomic PNG, returns the path).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from simrl.evaluation.plots import _DPI, _STYLE, PALETTE, RETURN
from simrl.utils.atomic import write_bytes

TRUTH = "#c5221f"


def _save(fig: Figure, path: str | Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buf.getvalue())
    return path


def posterior_pairs(
    samples: np.ndarray,
    names: Sequence[str],
    path: str | Path,
    *,
    low: Sequence[float],
    high: Sequence[float],
    truth: Sequence[float] | None = None,
    title: str = "posterior",
) -> Path:
    """A pair plot of posterior samples: histograms on the diagonal, 2-D densities below it, the prior
    box drawn as the axes' extent (dashed) and the true parameters marked."""
    samples = np.asarray(samples, dtype=np.float64)
    d = len(names)
    if samples.ndim != 2 or samples.shape[1] != d or len(samples) == 0:
        raise ValueError(f"samples must be (n, {d}), got {samples.shape}")
    lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    pad = 0.04 * (hi - lo)
    with mpl.rc_context({**_STYLE, "axes.grid": False}):
        fig = Figure(figsize=(2.6 * d + 1.0, 2.6 * d + 0.6), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(d, d, squeeze=False)
        for i in range(d):
            for j in range(d):
                ax = axes[i][j]
                if j > i:
                    ax.set_visible(False)
                    continue
                ax.set_xlim(lo[j] - pad[j], hi[j] + pad[j])
                if i == j:
                    ax.hist(samples[:, j], bins=50, range=(lo[j], hi[j]), color=PALETTE[0], alpha=0.8)
                    ax.axvspan(lo[j], hi[j], color="#f1f3f4", zorder=0, label="prior")
                    if truth is not None:
                        ax.axvline(truth[j], color=TRUTH, lw=2, label="true value")
                    ax.set_yticks([])
                else:
                    ax.set_ylim(lo[i] - pad[i], hi[i] + pad[i])
                    ax.add_patch(
                        Rectangle(
                            (lo[j], lo[i]),
                            hi[j] - lo[j],
                            hi[i] - lo[i],
                            fill=False,
                            ls="--",
                            ec="#777777",
                            lw=1.2,
                            label="prior box",
                        )
                    )
                    ax.hist2d(
                        samples[:, j],
                        samples[:, i],
                        bins=60,
                        range=[[lo[j], hi[j]], [lo[i], hi[i]]],
                        cmap="Blues",
                        cmin=1,
                    )
                    if truth is not None:
                        ax.plot(truth[j], truth[i], marker="*", ms=16, color=TRUTH, mec="white", label="true value")
                    ax.set_ylabel(names[i])
                if i == d - 1:
                    ax.set_xlabel(names[j])
        handles, labels = (
            axes[d - 1][0].get_legend_handles_labels() if d > 1 else axes[0][0].get_legend_handles_labels()
        )
        # Upper right: the empty half of the pair grid.
        fig.legend(handles, labels, loc="upper right", bbox_to_anchor=(0.97, 0.9))
        fig.suptitle(title, fontweight="bold")
    return _save(fig, path)


def returns_by_system(data: Mapping[str, Mapping[str, np.ndarray]], path: str | Path, *, title: str) -> Path:
    """Box plots of returns per test system (groups on the x axis), one box per method, points overlaid.

    ``data[system][method]`` is a 1-D array of returns (e.g. every episode of every seed).
    """
    systems = list(data)
    methods = list(dict.fromkeys(m for s in systems for m in data[s]))
    if not systems or not methods:
        raise ValueError("returns_by_system needs at least one system and one method")
    width = 0.8 / len(methods)
    rng = np.random.default_rng(0)
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=(max(7.0, 1.9 * len(systems) + 2), 4.5), dpi=_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for k, method in enumerate(methods):
            color = PALETTE[k % len(PALETTE)]
            pos = [i - 0.4 + width * (k + 0.5) for i in range(len(systems))]
            vals = [np.asarray(data[s].get(method, []), dtype=np.float64) for s in systems]
            present = [(p, v) for p, v in zip(pos, vals, strict=True) if v.size]
            ax.boxplot(
                [v for _, v in present],
                positions=[p for p, _ in present],
                widths=width * 0.8,
                patch_artist=True,
                showfliers=False,
                boxprops={"facecolor": color, "alpha": 0.35},
                medianprops={"color": color, "lw": 2},
                whiskerprops={"color": color},
                capprops={"color": color},
            )
            for p, v in present:
                ax.scatter(
                    p + rng.uniform(-width / 4, width / 4, v.size),
                    v,
                    s=9,
                    color=color,
                    alpha=0.7,
                    label=method if p == present[0][0] else None,
                )
        ax.set_xticks(range(len(systems)), systems)
        ax.set_ylabel(RETURN)
        ax.set_title(title)
        ax.legend(loc="best")
    return _save(fig, path)
