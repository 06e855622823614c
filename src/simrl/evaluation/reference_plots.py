"""A return curve against reference returns drawn as horizontal lines (DAgger's, against the expert and BC).

The layout of the imitation course DAgger's curves come from: the learner's mean return with its
standard deviation as error bars, against rounds or against expert labels, and each reference policy's
mean return as a horizontal line. Drawn in :mod:`simrl.evaluation.plots`' style.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from matplotlib.ticker import MaxNLocator

from simrl.evaluation.plots import PALETTE, RANDOM, RETURN, TRAINED, _plot, _std, _vec


def curve_with_references(
    x: object,
    mean: object,
    std: object,
    path: str | Path,
    *,
    title: str,
    xlabel: str,
    label: str,
    references: Mapping[str, float],
    integer_x: bool = False,
) -> Path:
    """``mean`` ± ``std`` (error bars) against ``x``, and a dashed horizontal line per reference
    (name -> mean return; a name ``random`` is grey). ValueError for bad shapes or values."""
    xs = _vec("x", x)
    m, s = _vec("mean", mean, xs.size), _std("std", std, xs.size)
    refs = {name: float(_vec(f"references[{name!r}]", [value])[0]) for name, value in references.items()}
    colors = iter(PALETTE[1:])
    with _plot(path, title) as ax:
        ax.errorbar(xs, m, yerr=s, color=TRAINED, marker="o", markersize=4, capsize=3, label=label)
        for name, value in refs.items():
            color = RANDOM if name.strip().lower() == "random" else next(colors)
            ax.axhline(value, color=color, linestyle="--", linewidth=1.5, label=f"{name}: {value:,.1f}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(RETURN)
        if integer_x:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best")
    return Path(path)
