"""Plots of evaluation results, written as PNG files.

Every function takes plain arrays and a path, draws one figure in one shared style, writes the PNG
atomically (a temporary file and a rename) and returns the path. Figures are built with matplotlib's
object-oriented API on the Agg canvas, never through pyplot: nothing is registered globally, so there
is nothing left open and the caller's backend is untouched. Bad shapes and empty inputs raise
ValueError before anything is drawn.

Colours are fixed across all plots: the trained policy is blue, the random policy grey.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from simrl.utils.atomic import write_bytes

TRAINED = "#1f6fd1"
RANDOM = "#8a8a8a"
# Further groups (iqm_curves, performance_profile); grey is kept for the random policy alone.
PALETTE = (TRAINED, "#e8710a", "#1a9e5c", "#c5221f", "#8e44ad", "#a0522d", "#d63384", "#0f9d9d")

RETURN = "episode return (sum of rewards)"
STEPS = "environment steps"

_STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "axes.edgecolor": "#444444",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "legend.fontsize": 10,
    "lines.linewidth": 2.0,
    "xtick.color": "#333333",
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "ytick.color": "#333333",
}
_SIZE = (7.0, 4.5)  # inches; at 100 dpi a 700 x 450 PNG that two fit side by side on a page
_DPI = 100


@contextlib.contextmanager
def _plot(path: str | Path, title: str, figsize: tuple[float, float] = _SIZE) -> Iterator[Axes]:
    """Yield the axes of a new styled figure; on exit write it to ``path`` as PNG."""
    with mpl.rc_context(_STYLE):
        fig = Figure(figsize=figsize, dpi=_DPI, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.set_title(title)
        yield ax
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=_DPI)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------- validation


def _vec(name: str, x: object, n: int | None = None, *, nan_ok: bool = False) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be an array of numbers ({e})") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty")
    if n is not None and a.size != n:
        raise ValueError(f"{name} has {a.size} values, expected {n} (one per point)")
    if not nan_ok and not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _std(name: str, x: object, n: int, *, nan_ok: bool = False) -> np.ndarray:
    a = _vec(name, x, n, nan_ok=nan_ok)
    if np.any(a[np.isfinite(a)] < 0):
        raise ValueError(f"{name} has negative values")
    return a


def _band_arrays(kind: str, group: str, item: object) -> tuple[np.ndarray, ...]:
    if not isinstance(item, Sequence) or len(item) != 4:
        raise ValueError(f"{kind}[{group!r}] must be a tuple (x, y, lo, hi) of four arrays")
    x = _vec(f"{kind}[{group!r}] x", item[0])
    return (x, *(_vec(f"{kind}[{group!r}] {nm}", a, x.size) for nm, a in zip(("y", "lo", "hi"), item[1:], strict=True)))


# ---------------------------------------------------------------- drawing helpers


def _curve(ax: Axes, x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str) -> tuple:
    marker = "o" if x.size <= 30 else None
    (line,) = ax.plot(x, y, color=color, marker=marker, markersize=4)
    band = ax.fill_between(x, lo, hi, color=color, alpha=0.2, linewidth=0)
    return (line, band)  # one legend entry for the line over its band


def _random_band(ax: Axes, mean: float, std: float) -> tuple:
    band = ax.axhspan(mean - std, mean + std, color=RANDOM, alpha=0.18, linewidth=0)
    line = ax.axhline(mean, color=RANDOM, linestyle="--", linewidth=1.5)
    return (line, band)


def _steps_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))  # 25k, 1M
    ax.set_xlabel(STEPS)


def _episodes(n: int) -> str:
    return f"{n} episode" + ("" if n == 1 else "s")


def _group_colors(names: Sequence[str]) -> dict[str, str]:
    others = iter(PALETTE * (len(names) // len(PALETTE) + 1))
    return {nm: RANDOM if nm.strip().lower() == "random" else next(others) for nm in names}


# ---------------------------------------------------------------- training curves


def learning_curve(timesteps: object, mean: object, std: object, path: str | Path, *, title: str) -> Path:
    """Evaluation mean return with a ± std band over training timesteps."""
    t = _vec("timesteps", timesteps)
    m, s = _vec("mean", mean, t.size), _std("std", std, t.size)
    with _plot(path, title) as ax:
        h = _curve(ax, t, m, m - s, m + s, TRAINED)
        _steps_axis(ax)
        ax.set_ylabel(RETURN)
        ax.legend([h], ["trained policy: mean ± std"], loc="best")
    return Path(path)


def comparison(
    timesteps: object, mean: object, std: object, random_returns: object, path: str | Path, *, title: str
) -> Path:
    """The learning curve over the random policy's mean ± std, drawn as a horizontal band."""
    t = _vec("timesteps", timesteps)
    m, s = _vec("mean", mean, t.size), _std("std", std, t.size)
    r = _vec("random_returns", random_returns)
    with _plot(path, title) as ax:
        hr = _random_band(ax, float(r.mean()), float(r.std()))
        ht = _curve(ax, t, m, m - s, m + s, TRAINED)
        _steps_axis(ax)
        ax.set_ylabel(RETURN)
        ax.legend([ht, hr], ["trained policy: mean ± std", f"random policy: mean ± std ({_episodes(r.size)})"])
    return Path(path)


def checkpoint_means(
    labels: Sequence[str],
    means: object,
    stds: object,
    path: str | Path,
    *,
    title: str,
    random_mean: float | None = None,
    random_std: float | None = None,
) -> Path:
    """Mean return at each checkpoint (labels such as "25%") with ± std error bars."""
    labels = [str(lb) for lb in labels]
    if not labels:
        raise ValueError("labels is empty")
    m, s = _vec("means", means, len(labels)), _std("stds", stds, len(labels))
    for name, value in (("random_mean", random_mean), ("random_std", random_std)):
        if value is not None and not (np.isfinite(value) and (name == "random_mean" or value >= 0)):
            raise ValueError(f"{name} must be a finite number (non-negative for std), got {value!r}")
    x = np.arange(len(labels))
    with _plot(path, title) as ax:
        handles, names = [], []
        if random_mean is not None:
            handles.append(_random_band(ax, random_mean, random_std or 0.0))
            names.append("random policy: mean" + (" ± std" if random_std else ""))
        eb = ax.errorbar(x, m, yerr=s, color=TRAINED, marker="o", capsize=5, elinewidth=1.5)
        handles.insert(0, eb)
        names.insert(0, "trained policy: mean ± std")
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_xlabel("checkpoint (share of training)")
        ax.set_ylabel(RETURN)
        ax.legend(handles, names)
    return Path(path)


def reward_terms(labels: Sequence[str], terms: Mapping[str, object], path: str | Path, *, title: str) -> Path:
    """What each policy's return is made of: one bar per label (a checkpoint, the random policy, a group),
    its reward terms' mean sums per episode stacked (positive terms above zero, negative ones below),
    and a black mark at their total, the mean return."""
    labels = [str(lb) for lb in labels]
    if not labels or not terms:
        raise ValueError("labels and terms must not be empty")
    values = {name: _vec(name, v, len(labels)) for name, v in terms.items()}
    x = np.arange(len(labels))
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(values)}
    with _plot(path, title, figsize=(max(_SIZE[0], 1.1 * len(labels) + 2.5), _SIZE[1])) as ax:
        up, down = np.zeros(len(labels)), np.zeros(len(labels))
        for name, v in values.items():
            pos, neg = np.maximum(v, 0.0), np.minimum(v, 0.0)
            ax.bar(x, pos, 0.6, bottom=up, color=colors[name], label=name.removeprefix("reward_"))
            ax.bar(x, neg, 0.6, bottom=down, color=colors[name])
            up, down = up + pos, down + neg
        total = sum(values.values())
        ax.plot(
            x, total, linestyle="none", marker="_", markersize=26, markeredgewidth=2.5, color="black", label="return"
        )
        ax.axhline(0.0, color="#444444", linewidth=0.8)
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_ylabel("mean sum per episode")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return Path(path)


# ---------------------------------------------------------------- distributions of returns


def boxplot(trained: object, random: object, path: str | Path, *, title: str) -> Path:
    """Box plots of trained and random episode returns, each episode drawn as a point."""
    tr, rd = _vec("trained", trained), _vec("random", random)
    jitter = np.random.default_rng(0)  # fixed: the same data give the same picture
    with _plot(path, title, figsize=(6.0, 4.5)) as ax:
        parts = ax.boxplot(
            [tr, rd],
            positions=[1, 2],
            widths=0.5,
            patch_artist=True,
            showfliers=False,
            medianprops={"color": "#222222", "linewidth": 1.5},
        )
        for box, color in zip(parts["boxes"], (TRAINED, RANDOM), strict=True):
            box.set(facecolor=color, alpha=0.3, edgecolor=color)
        for pos, vals, color in ((1, tr, TRAINED), (2, rd, RANDOM)):
            xs = pos + jitter.uniform(-0.12, 0.12, vals.size)
            ax.scatter(xs, vals, s=14, color=color, alpha=0.8, linewidths=0, zorder=3)
        mean = ax.scatter(
            [1, 2], [tr.mean(), rd.mean()], marker="D", s=40, color="white", edgecolors="#222222", zorder=4
        )
        ax.set_xticks([1, 2], [f"trained\n({_episodes(tr.size)})", f"random\n({_episodes(rd.size)})"])
        ax.set_ylabel(RETURN)
        ax.grid(axis="x", visible=False)
        ax.legend([mean], ["mean (line: median)"], loc="best")
    return Path(path)


def histogram(trained: object, random: object, path: str | Path, *, title: str) -> Path:
    """Overlaid histograms of trained and random episode returns on the same bins."""
    tr, rd = _vec("trained", trained), _vec("random", random)
    bins = _shared_bins(tr, rd)
    with _plot(path, title) as ax:
        for vals, color, name in ((tr, TRAINED, "trained"), (rd, RANDOM, "random")):
            ax.hist(vals, bins=bins, color=color, alpha=0.5, label=f"{name} ({_episodes(vals.size)})")
            ax.hist(vals, bins=bins, color=color, histtype="step", linewidth=1.2)
            ax.axvline(vals.mean(), color=color, linestyle="--", linewidth=1.5, label=f"{name} mean")
        ax.set_xlabel(RETURN)
        ax.set_ylabel("episodes")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="x", visible=False)
        ax.legend()
    return Path(path)


def _shared_bins(*samples: np.ndarray, max_bins: int = 40) -> np.ndarray:
    """Bins over all samples, as fine as the narrowest sample needs: two distant, tight clusters
    would otherwise share a handful of bins wide enough to hide each one's shape."""
    both = np.concatenate(samples)
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        return np.histogram_bin_edges(both, bins=1)
    width = min(float(np.diff(np.histogram_bin_edges(x, bins="auto"))[0]) for x in samples)
    return np.linspace(lo, hi, int(np.clip(np.ceil((hi - lo) / width), 1, max_bins)) + 1)


# ---------------------------------------------------------------- many runs: rliable-style summaries


def _groups(kind: str, groups: Mapping[str, object]) -> dict[str, tuple[np.ndarray, ...]]:
    if not groups:
        raise ValueError(f"{kind}: no groups given")
    return {str(g): _band_arrays(kind, str(g), item) for g, item in groups.items()}


def _draw_groups(ax: Axes, data: dict[str, tuple[np.ndarray, ...]]) -> None:
    colors = _group_colors(list(data))
    handles = [_curve(ax, x, y, lo, hi, colors[g]) for g, (x, y, lo, hi) in data.items()]
    ax.legend(handles, [f"{g} (band: CI)" for g in data], loc="best")


def iqm_curves(curves: Mapping[str, tuple], path: str | Path, *, title: str, xlabel: str | None = None) -> Path:
    """IQM return over timesteps (or what ``xlabel`` names), one line per group, each over its confidence band.

    ``curves`` maps a group name to ``(x, iqm, lo, hi)``. A group named "random" is drawn grey.
    """
    data = _groups("curves", curves)
    with _plot(path, title) as ax:
        _draw_groups(ax, data)
        if xlabel is None:
            _steps_axis(ax)
        else:
            ax.set_xlabel(xlabel)
        ax.set_ylabel("IQM of " + RETURN)
    return Path(path)


def performance_profile(profiles: Mapping[str, tuple], path: str | Path, *, title: str) -> Path:
    """Fraction of runs whose score exceeds tau, one line per group with its confidence band.

    ``profiles`` maps a group name to ``(taus, fraction, lo, hi)``.
    """
    data = _groups("profiles", profiles)
    with _plot(path, title) as ax:
        _draw_groups(ax, data)
        ax.set_xlabel("score threshold τ (return)")
        ax.set_ylabel("fraction of runs with score > τ")
        ax.set_ylim(-0.02, 1.02)
    return Path(path)


# ---------------------------------------------------------------- robustness over simulator parameters


def robustness(
    axes: Sequence[tuple[str, object]],
    values: object,
    path: str | Path,
    *,
    title: str,
    std: object | None = None,
    diff: bool = False,
    mark: float | Sequence[float] | None = None,
    mark_label: str = "nominal",
    value_label: str | None = None,
) -> Path:
    """Return as a function of one or two simulator parameters.

    ``axes`` names each parameter (the axis label, so include the unit: "mass (kg)") with its grid:
    ``[(name, grid)]`` or ``[(name_x, grid_x), (name_y, grid_y)]``, grids in any order, without repeats.
    ``values[i]`` or ``values[i, j]`` is the value at ``grid_x[i]`` (and ``grid_y[j]``); NaN marks a
    point not evaluated. One parameter draws a line (over a ± ``std`` band if given), two a heatmap
    with the value written in each cell. ``diff=True`` says the values are a difference between two
    groups: a diverging colour map centred on 0 (a zero line for one parameter). ``mark`` circles one
    point in parameter units (a float, or one value per parameter), e.g. the nominal parameters.
    """
    if len(axes) not in (1, 2):
        raise ValueError(f"robustness plots one or two parameters, got {len(axes)}")
    for a in axes:
        if not isinstance(a, Sequence) or isinstance(a, str) or len(a) != 2:
            raise ValueError(f"each of axes must be a pair (name, grid), got {a!r}")
    names = [str(a[0]) for a in axes]
    grids = [_grid(nm, a[1]) for nm, a in zip(names, axes, strict=True)]
    shape = tuple(g.size for g in grids)
    v = np.asarray(values, dtype=float)
    if v.shape != shape:
        raise ValueError(f"values has shape {v.shape}, expected {shape} (one per grid point of {', '.join(names)})")
    # Grids may come in any order (as typed on a command line); draw them increasing.
    order = [np.argsort(g) for g in grids]
    grids, v = [g[o] for g, o in zip(grids, order, strict=True)], v[np.ix_(*order)]
    if not np.any(np.isfinite(v)):
        raise ValueError("values are all NaN")
    marks = _mark(mark, len(axes))
    label = value_label or ("difference in mean return" if diff else "mean " + RETURN)
    if len(axes) == 1:
        s = None if std is None else _std("std", std, shape[0], nan_ok=True)[order[0]]
        with _plot(path, title) as ax:
            _line(ax, names[0], grids[0], v, s, diff, marks, mark_label, label)
    else:
        if std is not None:
            raise ValueError("std is drawn for one parameter only; a heatmap has no room for it")
        with _plot(path, title, figsize=_map_size(shape)) as ax:
            _heatmap(ax, names, grids, v, diff, marks, mark_label, label)
    return Path(path)


def _grid(name: str, grid: object) -> np.ndarray:
    g = _vec(f"grid of {name!r}", grid)
    if np.unique(g).size != g.size:
        raise ValueError(f"grid of {name!r} has repeated values")
    return g


def _mark(mark: float | Sequence[float] | None, n: int) -> tuple[float, ...] | None:
    if mark is None:
        return None
    m = np.atleast_1d(np.asarray(mark, dtype=float))
    if m.shape != (n,) or not np.all(np.isfinite(m)):
        raise ValueError(f"mark must be {n} finite number(s), one per parameter, got {mark!r}")
    return tuple(float(x) for x in m)


def _line(
    ax: Axes,
    name: str,
    grid: np.ndarray,
    v: np.ndarray,
    s: np.ndarray | None,
    diff: bool,
    mark: tuple[float, ...] | None,
    mark_label: str,
    label: str,
) -> None:
    if s is None:
        (h,) = ax.plot(grid, v, color=TRAINED, marker="o", markersize=4)
        handles, names = [h], ["difference" if diff else "mean"]
    else:
        handles, names = [_curve(ax, grid, v, v - s, v + s, TRAINED)], ["difference ± std" if diff else "mean ± std"]
    if diff:
        ax.axhline(0.0, color="#444444", linewidth=1)
    if mark is not None:
        handles.append(ax.axvline(mark[0], color="#c5221f", linestyle=":", linewidth=1.8))
        names.append(f"{mark_label} ({_describe(name, mark[0])})")
    ax.set_xlabel(name)
    ax.set_ylabel(label)
    ax.legend(handles, names, loc="best")


def _heatmap(
    ax: Axes,
    names: list[str],
    grids: list[np.ndarray],
    v: np.ndarray,
    diff: bool,
    mark: tuple[float, ...] | None,
    mark_label: str,
    label: str,
) -> None:
    (xs, ys), (nx, ny) = grids, v.shape
    if diff:
        m = float(np.nanmax(np.abs(v))) or 1.0
        cmap, norm = mpl.colormaps["RdBu"], Normalize(-m, m)
    else:
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        cmap, norm = mpl.colormaps["viridis"], Normalize(lo, hi) if hi > lo else Normalize(lo - 1.0, lo + 1.0)
    ax.set_facecolor("#eeeeee")  # shows through NaN cells
    # Cells on index coordinates, ticks labelled with the grid values: grids need not be evenly spaced.
    edges_x, edges_y = np.arange(nx + 1) - 0.5, np.arange(ny + 1) - 0.5
    z = np.ma.masked_invalid(v.T)  # rows are the second parameter, drawn upwards
    mesh = ax.pcolormesh(edges_x, edges_y, z, cmap=cmap, norm=norm, edgecolors="white", linewidth=0.5)
    ax.figure.colorbar(mesh, ax=ax, label=label)
    ax.set_xticks(*_ticks(xs))
    ax.set_yticks(*_ticks(ys))
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    _cell_text(ax, v, cmap, norm, diff)
    if mark is not None:
        from matplotlib.patheffects import withStroke

        px, py = _index_pos(xs, mark[0]), _index_pos(ys, mark[1])
        (h,) = ax.plot(
            px,
            py,
            marker="o",
            markersize=30 if max(nx, ny) <= 8 else 18,
            markerfacecolor="none",
            markeredgecolor="black",
            markeredgewidth=2,
            linestyle="none",
            path_effects=[withStroke(linewidth=5, foreground="white")],
        )
        desc = f"{_describe(names[0], mark[0])}, {_describe(names[1], mark[1])}"
        if not (-0.5 <= px <= nx - 0.5 and -0.5 <= py <= ny - 0.5):
            desc += ", outside the map"
        ax.figure.legend([h], [f"{mark_label} ({desc})"], loc="outside lower center", markerscale=0.5)


def _cell_text(ax: Axes, v: np.ndarray, cmap: Colormap, norm: Normalize, signed: bool) -> None:
    n = max(v.shape)
    if n > 15:  # the cells are too small to hold a number
        return
    size = 9 if n <= 8 else 7
    # One number format for the whole map, set by its largest value, so the cells read as a table.
    big = float(np.nanmax(np.abs(v)))
    fmt = ("+" if signed else "") + (".0f" if big >= 100 else ".1f" if big >= 10 else ".2f")
    for i, j in np.ndindex(v.shape):
        val = v[i, j]
        if np.isnan(val):
            ax.text(i, j, "n/a", ha="center", va="center", fontsize=size, color="#666666")
            continue
        r, g, b, _ = cmap(norm(val))
        color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
        ax.text(i, j, format(val, fmt).replace("-", "\u2212"), ha="center", va="center", fontsize=size, color=color)


def _describe(name: str, value: float) -> str:
    """A parameter and its value for a legend: ("mass (kg)", 1.0) -> "mass = 1 kg"."""
    m = re.fullmatch(r"(.*\S)\s*\(([^()]+)\)", name)
    return f"{m[1]} = {value:.3g} {m[2]}" if m else f"{name} = {value:.3g}"


def _ticks(grid: np.ndarray) -> tuple[np.ndarray, list[str]]:
    step = -(-grid.size // 12)  # at most ~12 labels
    idx = np.arange(grid.size)[::step]
    return idx, [f"{x:.3g}" for x in grid[idx]]


def _index_pos(grid: np.ndarray, value: float) -> float:
    """Where ``value`` falls on the cell index axis of an increasing grid; linear, also beyond the ends."""
    if grid.size == 1:
        return 0.0
    n = grid.size
    if value < grid[0]:
        return float((value - grid[0]) / (grid[1] - grid[0]))
    if value > grid[-1]:
        return float(n - 1 + (value - grid[-1]) / (grid[-1] - grid[-2]))
    return float(np.interp(value, grid, np.arange(n)))


def _map_size(shape: tuple[int, ...]) -> tuple[float, float]:
    nx, ny = shape
    return min(max(4.5 + 0.55 * nx, 7.0), 12.0), min(max(2.5 + 0.45 * ny, 4.5), 10.0)
