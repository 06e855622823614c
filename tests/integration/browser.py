"""Open an HTML page in a real headless Chromium (through Playwright) and report what it rendered.

Playwright drives a system Chromium (``executable_path``); its own browser downloads are not needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Quiet, offline, deterministic: no sync, updates, background fetches or first-run pages.
ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

_PAGE_FACTS = """() => {
  const imgs = [...document.images];
  const videos = [...document.querySelectorAll('video')];
  return {
    images: imgs.length,
    images_loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    videos: videos.map(v => ({
      ready_state: v.readyState,
      has_source: Boolean(v.currentSrc || v.src || v.querySelector('source[src]')),
      error: v.error ? v.error.code : null,
      width: v.videoWidth,
    })),
    can_play_mp4: document.createElement('video').canPlayType('video/mp4; codecs="avc1.64001E"') !== '',
    text_length: document.body.innerText.trim().length,
    height: document.documentElement.scrollHeight,
  };
}"""


class BrowserUnavailable(RuntimeError):
    """No browser to test with: a reason to skip, not a failure of the page."""


_VIDEOS_SETTLED = "[...document.querySelectorAll('video')].every(v => v.readyState >= 1 || v.error)"


def _external(requested: str, page_url: str) -> bool:
    return requested != page_url and not requested.startswith("data:")


def find_chromium() -> str | None:
    """The Chromium to use: $SIMRL_CHROMIUM, else the first of CANDIDATES found, else None.

    Raises FileNotFoundError if SIMRL_CHROMIUM names nothing executable (a setting that is wrong
    should not quietly fall back to another browser).
    """
    chosen = os.environ.get("SIMRL_CHROMIUM")
    if chosen:
        found = shutil.which(chosen)
        if found is None:
            raise FileNotFoundError(f"SIMRL_CHROMIUM={chosen!r} is not an executable")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def inspect_page(
    html_path: str | Path, screenshot_path: str | Path, *, executable: str | None = None
) -> dict[str, Any]:
    """Load ``html_path`` in headless Chromium, take a full-page screenshot, and return what loaded.

    Returns ``images``, ``images_loaded`` (complete with a natural width), ``videos`` (one dict per
    <video>: ``ready_state``, ``has_source``, ``error``, ``width``), ``can_play_mp4`` (whether this
    Chromium decodes H.264; some builds do not), ``text_length`` (body text),
    ``height`` (px), ``requests`` (every URL fetched that is not the page or a data: URI),
    ``console_errors``, ``screenshot`` (the path) and ``colours`` (distinct colours in it).
    Raises BrowserUnavailable when no Chromium is found or Playwright cannot start it.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    exe = executable or find_chromium()
    if exe is None:
        raise BrowserUnavailable("no Chromium found (set SIMRL_CHROMIUM)")
    args = ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])  # Chromium refuses its sandbox as root
    url = Path(html_path).resolve().as_uri()
    requests: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=exe, args=args, headless=True, timeout=30_000)
        except PlaywrightError as e:
            raise BrowserUnavailable(f"Playwright could not start {exe}: {str(e).splitlines()[0]}") from e
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda r: _external(r.url, url) and requests.append(r.url))
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
            page.goto(url, wait_until="load", timeout=30_000)
            # Videos load their metadata after the load event: give them a moment, then report what is there.
            with contextlib.suppress(PlaywrightTimeout):
                page.wait_for_function(_VIDEOS_SETTLED, timeout=5_000)
            facts = page.evaluate(_PAGE_FACTS)
            page.screenshot(path=str(screenshot_path), full_page=True)
        finally:
            browser.close()
    return {
        **facts,
        "requests": requests,
        "console_errors": console_errors,
        "screenshot": Path(screenshot_path),
        "colours": count_colours(screenshot_path),
    }


def count_colours(image_path: str | Path) -> int:
    """Distinct RGB colours in an image (1 means blank)."""
    from PIL import Image

    with Image.open(image_path) as im:
        rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=rgb.width * rgb.height)
    return len(colours) if colours else 0


def page_facts_or_skip(html_path: str | Path, screenshot_path: str | Path) -> dict[str, Any]:
    """``inspect_page`` in the system Chromium; skip without one, except on CI (which installs it): fail there."""
    import pytest

    def unavailable(reason: str):
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must provide one (apt-get install chromium, or set SIMRL_CHROMIUM)")
        pytest.skip(reason)

    exe = find_chromium()
    if exe is None:
        unavailable("no Chromium found (install chromium or set SIMRL_CHROMIUM)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    try:
        return inspect_page(html_path, screenshot_path, executable=exe)
    except BrowserUnavailable as e:
        unavailable(str(e))
        raise
