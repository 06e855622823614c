"""The HTML report: one self-contained file that a real browser renders with every image and video."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from simrl.evaluation import plots
from simrl.evaluation.report import (
    Code,
    ConfigTable,
    Image,
    Link,
    Metrics,
    Paragraph,
    Section,
    Stat,
    Table,
    Video,
    format_ci,
    format_mean_std,
    render_html,
    to_html,
)

from .browser import BrowserUnavailable, find_chromium, inspect_page

CONFIG = {
    "algo": "sac",
    "env_id": "simrl/Pendulum-v0",
    "seed": 3,
    "hyperparams": {"learning_rate": 0.0003, "policy_kwargs": {"net_arch": [32, 32]}, "use_sde": False},
    "notes": None,
}


def _frames(n: int = 10, size: int = 64) -> np.ndarray:
    """A white dot moving across a dark square."""
    frames = np.full((n, size, size, 3), 30, dtype=np.uint8)
    for k in range(n):
        x = 8 + k * (size - 16) // max(n - 1, 1)
        frames[k, size // 2 - 4 : size // 2 + 4, x - 4 : x + 4] = 255
    return frames


def _mp4(path: Path) -> Path | None:
    try:
        import imageio.v3 as iio
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return None
    iio.imwrite(path, _frames(), fps=10, codec="libx264")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, int, bool]:
    """A report built from synthetic data: (html path, number of <img> expected, has an mp4)."""
    import imageio.v3 as iio

    d = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    t = np.linspace(10_000, 100_000, 10)
    mean, std = -1200 + 1000 * (1 - np.exp(-t / 30_000)), np.full(10, 60.0)
    trained, rand = rng.normal(-180, 40, 10), rng.normal(-1200, 250, 10)
    grid_m, grid_l = np.linspace(0.5, 2.0, 4), np.linspace(0.5, 1.5, 3)
    images = [
        plots.learning_curve(t, mean, std, d / "curve.png", title="Learning curve"),
        plots.comparison(t, mean, std, rand, d / "comparison.png", title="Trained vs random"),
        plots.boxplot(trained, rand, d / "box.png", title="Final returns"),
        plots.robustness(
            [("mass (kg)", grid_m), ("length (m)", grid_l)],
            -150 - 100 * np.add.outer(grid_m, grid_l),
            d / "robust.png",
            title="Robustness",
            mark=(1.0, 1.0),
        ),
    ]
    gif = d / "rollout.gif"
    iio.imwrite(gif, _frames(), duration=100, loop=0)
    mp4 = _mp4(d / "rollout.mp4")
    videos = [Video(gif, caption="rollout (gif)")] + ([Video(mp4, caption="rollout (mp4)")] if mp4 else [])
    path = render_html(
        d / "out" / "report.html",
        title="SAC on simrl/Pendulum-v0 <seed 3>",
        subtitle="runs/sac-pendulum-s3 — 100,000 steps",
        headline=[
            Stat("final return", format_mean_std(trained.mean(), trained.std()), "10 episodes"),
            Stat("IQM", format_ci(-178.2, -190.5, -165.0), "95% bootstrap CI"),
            Stat("random policy", format_mean_std(rand.mean(), rand.std())),
            Stat("timesteps", 100_000),
            Stat("wall time", "3 min 12 s"),
        ],
        sections=[
            Section("Learning", [Image(p, caption=p.stem) for p in images[:2]]),
            Section("Final policy", [Image(images[2]), *videos, Metrics([("mean", -180.04), ("episodes", 10)])]),
            Section("Robustness", [Paragraph("Return <over> test systems & more"), Image(images[3])]),
            Section("Runs", [Table(["run", "return"], [["s1", -170.0], ["s2", -190.5]])]),
            Section("Configuration", [ConfigTable(CONFIG)]),
        ],
    )
    return path, len(images) + 1, mp4 is not None


def test_page_is_self_contained(report):
    path, n_images, has_mp4 = report
    page = path.read_text()
    sources = re.findall(r"""\bsrc\s*=\s*["']?([^"'\s>]*)""", page)
    assert len(sources) == n_images + has_mp4
    assert all(s.startswith("data:") for s in sources), [s[:40] for s in sources if not s.startswith("data:")]
    assert 'src="http' not in page and 'src="file' not in page
    assert "href=" not in page and "url(" not in page and "<script" not in page
    assert page.count("data:image/png;base64,") == n_images - 1
    assert page.count("data:image/gif;base64,") == 1
    assert ("<video controls loop muted autoplay playsinline>" in page) == has_mp4


def test_text_is_escaped_and_config_flattened(report):
    page = report[0].read_text()
    assert "&lt;seed 3&gt;" in page and "<seed 3>" not in page
    assert "Return &lt;over&gt; test systems &amp; more" in page
    assert "<th>hyperparams.policy_kwargs.net_arch</th><td>[32, 32]</td>" in page
    assert "<th>hyperparams.use_sde</th><td>false</td>" in page
    assert "<th>notes</th><td>null</td>" in page
    # The headline numbers come before the first plot.
    assert page.index("final return") < page.index("<img")


def test_written_atomically_without_leftovers(report):
    folder = report[0].parent
    assert [p.name for p in folder.iterdir()] == ["report.html"]


def test_a_script_title_cannot_run():
    page = to_html(title='<script>alert("x")</script>', sections=[Section("<b>", [Paragraph("</p><img src=x>")])])
    assert "<script>" not in page and "<img src=x>" not in page and "<b>" not in page


def test_links_are_relative_and_escaped_and_code_is_preformatted():
    cells = [[Link("s0", "trials/0/s0/"), (Link("a&b", "x y/r.html"), Link("c", "c#d"))]]
    page = to_html(
        title="t",
        sections=[
            Section("s", [Table(["run", "runs"], cells), Code("simrl train <x> && y"), Link("best", "best.yaml")])
        ],
    )
    assert '<td><a href="trials/0/s0/">s0</a></td>' in page
    assert '<a href="x%20y/r.html">a&amp;b</a> <a href="c%23d">c</a>' in page
    assert '<pre class="code"><code>simrl train &lt;x&gt; &amp;&amp; y</code></pre>' in page
    assert '<p><a href="best.yaml">best</a></p>' in page
    for href in ("https://example.com/x", "javascript:alert(1)", "/etc/passwd", "//host/x", "file:///tmp/x"):
        with pytest.raises(ValueError, match="only relative paths"):
            Link("x", href)


def test_what_cannot_be_embedded_is_refused(tmp_path):
    (tmp_path / "v.avi").write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="PNG"):
        to_html(title="t", sections=[Section("s", [Image(b"not an image")])])
    with pytest.raises(ValueError, match="video"):
        to_html(title="t", sections=[Section("s", [Video(tmp_path / "v.avi")])])
    with pytest.raises(ValueError, match="columns"):
        to_html(title="t", sections=[Section("s", [Table(["a", "b"], [[1]])])])
    with pytest.raises(FileNotFoundError):
        to_html(title="t", sections=[Section("s", [Image(tmp_path / "missing.png")])])


def _no_browser(reason: str) -> None:
    """Skip, except on CI, which always installs Chromium and Playwright: there a missing browser fails."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must provide one (apt-get install chromium, or set SIMRL_CHROMIUM)")
    pytest.skip(reason)


@pytest.mark.slow
def test_page_renders_in_a_real_browser(report, tmp_path):
    path, n_images, has_mp4 = report
    exe = find_chromium()
    if exe is None:
        _no_browser("no Chromium found (install chromium or set SIMRL_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _no_browser("playwright is not installed (pip install -e '.[dev]')")
    try:
        facts = inspect_page(path, tmp_path / "page.png", executable=exe)
    except BrowserUnavailable as e:
        _no_browser(str(e))
    assert facts["images"] == n_images
    assert facts["images_loaded"] == facts["images"], "an image did not load"
    assert len(facts["videos"]) == has_mp4
    for video in facts["videos"]:
        assert video["has_source"], video
        if facts["can_play_mp4"]:  # a Chromium built without H.264 can only show that a source is there
            assert video["ready_state"] >= 1 and video["error"] is None and video["width"] == 64, video
    assert facts["requests"] == [], "the page fetched something from outside itself"
    assert facts["console_errors"] == []
    assert facts["text_length"] > 300
    assert facts["colours"] > 50, "the screenshot is blank"
