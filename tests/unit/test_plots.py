"""Every plot writes a real, non-blank PNG; robustness maps look like what they claim; bad input is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simrl.evaluation import plots

RNG = np.random.default_rng(0)
T = np.linspace(10_000, 100_000, 10)
MEAN = -1200 + 1000 * (1 - np.exp(-T / 30_000))
STD = np.linspace(200, 40, 10)
TRAINED = RNG.normal(-180, 40, 20)
RANDOM = RNG.normal(-1200, 250, 20)
MASS = np.linspace(0.5, 2.0, 6)
LENGTH = np.array([0.5, 0.75, 1.0, 1.5])  # uneven on purpose
MAP = -150 - 200 * np.add.outer((MASS - 1) ** 2, (LENGTH - 1) ** 2)
TAUS = np.linspace(-1500, 0, 40)
PROFILE = 1 / (1 + np.exp((TAUS + 300) / 80))


def _band(y: np.ndarray, w: float) -> tuple:
    return (y - w, y + w)


PLOTS = {
    "learning_curve": lambda p: plots.learning_curve(T, MEAN, STD, p, title="curve"),
    "comparison": lambda p: plots.comparison(T, MEAN, STD, RANDOM, p, title="vs random"),
    "checkpoint_means": lambda p: plots.checkpoint_means(
        ["25%", "50%", "75%", "100%"], MEAN[[2, 4, 7, 9]], STD[[2, 4, 7, 9]], p, title="checkpoints", random_mean=-1200
    ),
    "boxplot": lambda p: plots.boxplot(TRAINED, RANDOM, p, title="box"),
    "histogram": lambda p: plots.histogram(TRAINED, RANDOM, p, title="hist"),
    "iqm_curves": lambda p: plots.iqm_curves(
        {"SAC": (T, MEAN, *_band(MEAN, 50)), "random": (T, np.full(10, -1200.0), *_band(np.full(10, -1200.0), 80))},
        p,
        title="IQM",
    ),
    "performance_profile": lambda p: plots.performance_profile(
        {"SAC": (TAUS, PROFILE, *_band(PROFILE, 0.05))}, p, title="profile"
    ),
    "robustness_line": lambda p: plots.robustness(
        [("mass (kg)", MASS)], MAP[:, 2], p, title="1 parameter", std=np.full(6, 30.0), mark=1.0
    ),
    "robustness_map": lambda p: plots.robustness(
        [("mass (kg)", MASS), ("length (m)", LENGTH)], MAP, p, title="2 parameters", mark=(1.0, 1.0)
    ),
}


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB")).astype(int)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """Every plot drawn once, into a folder that does not exist yet."""
    out = tmp_path_factory.mktemp("plots") / "sub"
    return {name: draw(out / f"{name}.png") for name, draw in PLOTS.items()}


@pytest.mark.parametrize("name", PLOTS)
def test_each_plot_writes_a_png_with_content(name, rendered):
    path = rendered[name]
    assert path.name == f"{name}.png"
    assert path.stat().st_size > 5_000
    px = _rgb(path)
    assert px.shape[0] >= 300 and px.shape[1] >= 400
    colours = np.unique((px[..., 0] << 16) | (px[..., 1] << 8) | px[..., 2])
    assert colours.size > 50, "the image is (nearly) one colour"


def test_no_temporary_file_is_left_behind(rendered):
    folder = next(iter(rendered.values())).parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{name}.png" for name in PLOTS)


def _shares(px: np.ndarray) -> tuple[float, float]:
    """Share of near-white pixels and of strongly coloured ones."""
    white = (px.min(axis=2) > 235).mean()
    colourful = (px.max(axis=2) - px.min(axis=2) > 60).mean()
    return float(white), float(colourful)


def test_two_parameters_draw_a_heatmap_and_one_a_line(rendered):
    line = _shares(_rgb(rendered["robustness_line"]))
    heat = _shares(_rgb(rendered["robustness_map"]))
    assert line[0] > 0.6 and line[1] < 0.15, line
    assert heat[0] < 0.5 and heat[1] > 0.3, heat


def _red_blue(px: np.ndarray) -> tuple[int, int]:
    r, b = px[..., 0], px[..., 2]
    return int((r - b > 60).sum()), int((b - r > 60).sum())


def test_difference_map_is_centred_on_zero(tmp_path):
    both = plots.robustness(
        [("mass (kg)", MASS), ("length (m)", LENGTH)], MAP - MAP.mean(), tmp_path / "both.png", title="d", diff=True
    )
    red, blue = _red_blue(_rgb(both))
    assert red > 20_000 and blue > 20_000
    # All differences positive: blue cells only, the colour map not stretched from min to max
    # (the red that remains is the colour bar's lower half).
    gains = plots.robustness(
        [("mass (kg)", MASS), ("length (m)", LENGTH)], MAP - MAP.min() + 10, tmp_path / "pos.png", title="d", diff=True
    )
    red, blue = _red_blue(_rgb(gains))
    assert blue > 20_000 and red < 5_000


def test_a_grid_point_not_evaluated_is_allowed(tmp_path):
    values = MAP.copy()
    values[0, 0] = np.nan
    plots.robustness([("mass", MASS), ("length", LENGTH)], values, tmp_path / "nan.png", title="n/a cell")
    assert (tmp_path / "nan.png").stat().st_size > 5_000


def test_grids_in_any_order_give_the_same_picture(tmp_path):
    axes = [("mass (kg)", MASS), ("length (m)", LENGTH)]
    shuffled = [("mass (kg)", MASS[::-1]), ("length (m)", LENGTH[[2, 0, 3, 1]])]
    a = plots.robustness(axes, MAP, tmp_path / "a.png", title="m", mark=(1.1, 0.9))
    b = plots.robustness(shuffled, MAP[::-1][:, [2, 0, 3, 1]], tmp_path / "b.png", title="m", mark=(1.1, 0.9))
    assert np.array_equal(_rgb(a), _rgb(b))


def test_no_figure_is_left_open(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    PLOTS["checkpoint_means"](tmp_path / "a.png")
    assert plt.get_fignums() == before


BAD = {
    "mean shorter than timesteps": lambda p: plots.learning_curve(T, MEAN[:-1], STD, p, title="x"),
    "empty timesteps": lambda p: plots.learning_curve([], [], [], p, title="x"),
    "2-D mean": lambda p: plots.learning_curve(T, np.stack([MEAN, MEAN]), STD, p, title="x"),
    "negative std": lambda p: plots.learning_curve(T, MEAN, -STD, p, title="x"),
    "NaN in mean": lambda p: plots.learning_curve(T, np.where(T > 50_000, np.nan, MEAN), STD, p, title="x"),
    "empty random": lambda p: plots.comparison(T, MEAN, STD, [], p, title="x"),
    "labels vs means": lambda p: plots.checkpoint_means(["25%", "50%"], [1.0, 2.0, 3.0], [0, 0, 0], p, title="x"),
    "no checkpoints": lambda p: plots.checkpoint_means([], [], [], p, title="x"),
    "NaN random mean": lambda p: plots.checkpoint_means(["a"], [1.0], [0.0], p, title="x", random_mean=np.nan),
    "empty trained": lambda p: plots.boxplot([], RANDOM, p, title="x"),
    "histogram of text": lambda p: plots.histogram(["a", "b"], RANDOM, p, title="x"),
    "no groups": lambda p: plots.iqm_curves({}, p, title="x"),
    "group of 3": lambda p: plots.iqm_curves({"SAC": (T, MEAN, MEAN)}, p, title="x"),
    "ci shorter": lambda p: plots.performance_profile({"SAC": (TAUS, PROFILE, PROFILE[:-1], PROFILE)}, p, title="x"),
    "map of wrong shape": lambda p: plots.robustness([("m", MASS), ("l", LENGTH)], MAP.T, p, title="x"),
    "three parameters": lambda p: plots.robustness([("a", MASS)] * 3, np.zeros((6, 6, 6)), p, title="x"),
    "repeated grid value": lambda p: plots.robustness([("m", [1.0, 0.5, 1.0])], [1.0, 2.0, 3.0], p, title="x"),
    "all NaN": lambda p: plots.robustness([("m", MASS)], np.full(6, np.nan), p, title="x"),
    "mark of 1 on a map": lambda p: plots.robustness([("m", MASS), ("l", LENGTH)], MAP, p, title="x", mark=1.0),
    "std on a map": lambda p: plots.robustness([("m", MASS), ("l", LENGTH)], MAP, p, title="x", std=MAP),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_raises_value_error_and_writes_nothing(case, tmp_path):
    with pytest.raises(ValueError):
        BAD[case](tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []
