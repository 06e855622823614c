"""One self-contained HTML page for a run or a comparison of runs.

The page carries everything inside itself: inline CSS, images and videos as base64 data URIs, no
scripts, no fonts or files fetched from anywhere (a Content-Security-Policy forbids it), so the file
can be mailed or archived and still opens. All text is HTML-escaped. Links (:class:`Link`) lead only to
relative paths, files beside the page such as a study's run folders.

A page is a title, an optional subtitle, a row of headline numbers (what a reader wants first:
final return, IQM with its CI, the random baseline, timesteps, wall time), then sections of blocks::

    render_html(
        run / "report.html",
        title="SAC on simrl/Pendulum-v0",
        headline=[Stat("final return", format_mean_std(-152.3, 12.1), "10 episodes"), ...],
        sections=[
            Section("Learning", [Image(run / "plots/curve.png", caption="..."), Video(run / "videos/final.mp4")]),
            Section("Configuration", [ConfigTable(config)]),
        ],
    )
"""

from __future__ import annotations

import base64
import html
import json
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from simrl.utils.atomic import write_text


@dataclass(frozen=True)
class Stat:
    """A headline number: a label, its value (a number or preformatted text) and a short note."""

    label: str
    value: object
    detail: str = ""


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Image:
    """A PNG, JPEG or GIF file (or its bytes), embedded in the page."""

    source: str | Path | bytes
    caption: str = ""
    alt: str = ""


@dataclass(frozen=True)
class Video:
    """An .mp4 or .webm file, embedded as a looping muted video, or a .gif, embedded as an image."""

    source: str | Path
    caption: str = ""


@dataclass(frozen=True)
class Metrics:
    """A two-column table of (name, value) rows."""

    rows: Sequence[tuple[str, object]]


@dataclass(frozen=True)
class Table:
    """A table with a header row, e.g. one row per run in a comparison."""

    columns: Sequence[str]
    rows: Sequence[Sequence[object]]


@dataclass(frozen=True)
class Code:
    """Preformatted text, such as a command line to copy."""

    text: str


@dataclass(frozen=True)
class Link:
    """A link to a file or folder beside the page, by a relative path (the page and what it links to travel
    together): a block of its own, or a :class:`Table` cell (a tuple of links: several in one cell)."""

    text: str
    href: str

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.href)
        if parts.scheme or parts.netloc or self.href.startswith("/"):
            raise ValueError(f"link {self.href!r}: only relative paths, to files beside the page")


@dataclass(frozen=True)
class ConfigTable:
    """A nested mapping (a run's config.yaml) as a flat table of dotted keys and values."""

    config: Mapping[str, object]


Block = Paragraph | Image | Video | Metrics | Table | ConfigTable | Code | Link


@dataclass(frozen=True)
class Section:
    title: str
    blocks: Sequence[Block] = field(default_factory=tuple)


# ---------------------------------------------------------------- formatting numbers


def format_value(value: object) -> str:
    """A number as a reader wants it: 4 significant digits, thousands separated; anything else as text."""
    if value is None:
        return "—"
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        a = abs(value)
        if not math.isfinite(value) or a == 0:
            return str(value)
        if a >= 1e7 or a < 1e-3:
            return f"{value:.3g}"
        if a >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


def format_mean_std(mean: float, std: float) -> str:
    """'-152.3 ± 12.1': both to the same decimals, set by the larger."""
    m, s = _same_decimals(mean, std)
    return f"{m} ± {s}"


def format_ci(value: float, lo: float, hi: float) -> str:
    """'-150.1 [-160.2, -140.3]': an estimate and its confidence interval, to the same decimals."""
    v, a, b = _same_decimals(value, lo, hi)
    return f"{v} [{a}, {b}]"


def _same_decimals(*values: float) -> list[str]:
    vals = [float(v) for v in values]
    sizes = [abs(v) for v in vals if math.isfinite(v) and v != 0]
    if not sizes:
        return [format_value(v) for v in vals]
    big = max(sizes)
    if big >= 1e7 or big < 1e-3:
        return [f"{v:.3g}" for v in vals]
    decimals = max(0, 3 - math.floor(math.log10(big)))  # 4 significant digits in the largest
    return [f"{v:,.{decimals}f}" for v in vals]


# ---------------------------------------------------------------- the page


def render_html(
    path: str | Path,
    *,
    title: str,
    sections: Sequence[Section],
    subtitle: str | None = None,
    headline: Sequence[Stat] = (),
    footer: str | None = None,
) -> Path:
    """Write the page to ``path`` atomically and return the path.

    Raises FileNotFoundError for a missing image or video, ValueError for a file of a kind the page
    cannot embed, TypeError for a block that is none of the block types.
    """
    page = to_html(title=title, sections=sections, subtitle=subtitle, headline=headline, footer=footer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, page)
    return path


def to_html(
    *,
    title: str,
    sections: Sequence[Section],
    subtitle: str | None = None,
    headline: Sequence[Stat] = (),
    footer: str | None = None,
) -> str:
    """The page as a string (what render_html writes)."""
    body = [f"<header><h1>{_e(title)}</h1>"]
    if subtitle:
        body.append(f'<p class="subtitle">{_e(subtitle)}</p>')
    body.append("</header>")
    if headline:
        body.append(_headline(headline))
    body.extend(_section(s) for s in sections)
    if footer:
        body.append(f"<footer>{_e(footer)}</footer>")
    return _PAGE.format(title=_e(title), csp=_CSP, css=_CSS, body="\n".join(body))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _headline(stats: Sequence[Stat]) -> str:
    cards = []
    for s in stats:
        detail = f'<div class="detail">{_e(s.detail)}</div>' if s.detail else ""
        cards.append(
            f'<div class="stat"><div class="label">{_e(s.label)}</div>'
            f'<div class="value">{_e(format_value(s.value))}</div>{detail}</div>'
        )
    return f'<section class="headline">{"".join(cards)}</section>'


def _section(section: Section) -> str:
    out = [f"<section><h2>{_e(section.title)}</h2>"]
    media: list[str] = []  # consecutive images and videos share a grid, two side by side
    for block in section.blocks:
        if isinstance(block, Image | Video):
            media.append(_media(block))
            continue
        if media:
            out.append(f'<div class="media">{"".join(media)}</div>')
            media = []
        out.append(_block(block))
    if media:
        out.append(f'<div class="media">{"".join(media)}</div>')
    out.append("</section>")
    return "\n".join(out)


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_e(block.text)}</p>"
    if isinstance(block, Metrics):
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(format_value(v))}</td></tr>" for k, v in block.rows)
        return f'<table class="metrics">{rows}</table>'
    if isinstance(block, Table):
        for r in block.rows:
            if len(r) != len(block.columns):
                raise ValueError(f"table row {list(r)!r} has {len(r)} cells for {len(block.columns)} columns")
        head = "".join(f"<th>{_e(c)}</th>" for c in block.columns)
        rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in block.rows)
        return (
            f'<div class="scroll"><table class="grid"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'
        )
    if isinstance(block, Code):
        return f'<pre class="code"><code>{_e(block.text)}</code></pre>'
    if isinstance(block, Link):
        return f"<p>{_link(block)}</p>"
    if isinstance(block, ConfigTable):
        items = _flatten(block.config)
        if not items:
            return '<p class="muted">(empty)</p>'
        rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
        return f'<table class="config">{rows}</table>'
    raise TypeError(f"not a report block: {block!r}")


def _cell(value: object) -> str:
    if isinstance(value, Link):
        return _link(value)
    if isinstance(value, tuple) and value and all(isinstance(v, Link) for v in value):
        return " ".join(_link(v) for v in value)  # type: ignore[arg-type]
    return _e(format_value(value))


def _link(link: Link) -> str:
    return f'<a href="{_e(urllib.parse.quote(link.href))}">{_e(link.text)}</a>'


def _media(block: Image | Video) -> str:
    caption = f"<figcaption>{_e(block.caption)}</figcaption>" if block.caption else ""
    if isinstance(block, Image):
        data = block.source if isinstance(block.source, bytes) else Path(block.source).read_bytes()
        alt = block.alt or block.caption
        return f'<figure><img src="{_data_uri(data, _image_type(data))}" alt="{_e(alt)}">{caption}</figure>'
    path = Path(block.source)
    kind = _VIDEO_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"cannot embed video {path.name}: expected one of {', '.join(_VIDEO_TYPES)}")
    data = path.read_bytes()
    if kind == "image/gif":
        alt = _e(block.caption or path.name)
        return f'<figure><img class="anim" src="{_data_uri(data, kind)}" alt="{alt}">{caption}</figure>'
    source = f'<source src="{_data_uri(data, kind)}" type="{kind}">'
    return f"<figure><video controls loop muted autoplay playsinline>{source}</video>{caption}</figure>"


_VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".gif": "image/gif"}


def _image_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    raise ValueError("cannot embed image: not a PNG, JPEG or GIF file")


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _flatten(tree: Mapping[str, object], prefix: str = "") -> list[tuple[str, str]]:
    """{"a": {"b": 1}, "c": [1, 2]} -> [("a.b", "1"), ("c", "[1, 2]")]; values written as in YAML."""
    items: list[tuple[str, str]] = []
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            items.extend(_flatten(value, name + "."))
        else:
            items.append((name, _yaml_scalar(value)))
    return items


def _yaml_scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, int | float):
        return repr(value)
    # Lists and empty mappings in flow style; default=str for anything JSON cannot write.
    return json.dumps(value, default=str, ensure_ascii=False)


_CSP = "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""

_CSS = """
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #e3e3e3; --bg-alt: #f6f7f9; --accent: #1f6fd1; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 28px 24px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 10px; margin-bottom: 20px; }
h1 { font-size: 26px; margin: 0; }
h2 { font-size: 19px; margin: 34px 0 12px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.subtitle { color: var(--muted); margin: 4px 0 0; }
.headline { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; }
.stat { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.stat .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.stat .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; }
.stat .detail { color: var(--muted); font-size: 12px; }
.media { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
figure { margin: 0; }
figure img, figure video { display: block; max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 4px; }
figure video, figure img.anim { width: 100%; max-width: 480px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
td { font-variant-numeric: tabular-nums; }
table.metrics th, table.config th { font-weight: 500; color: var(--muted); }
table.metrics td { text-align: right; font-weight: 600; }
table.grid thead th { background: var(--bg-alt); }
table.grid tbody tr:nth-child(even), table.config tr:nth-child(even) { background: #fbfbfc; }
table.config { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
table.config td { word-break: break-word; }
.scroll { overflow-x: auto; }
pre.code { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 4px; padding: 8px 12px;
  overflow-x: auto; font: 13px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
a { color: var(--accent); }
.muted { color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""
