"""Writing outputs to files: charts as PNG (200 dpi) and SVG; the weekly report as Markdown, HTML and PDF."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from tracker.errors import TrackerError
from tracker.formatting import pct, points
from tracker.reports import WeeklyReport

DPI = 200


def render_figure(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Save a figure as NAME.png and NAME.svg in `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=DPI, facecolor="white")
    fig.savefig(paths[1], facecolor="white")
    return paths


# --- the weekly report --------------------------------------------------------------------------------------

EXCERPT_CHARS = 280


def _environment(autoescape: bool) -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tracker", "templates"),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=lambda value: clean(value) if isinstance(value, str) else value,
    )
    env.filters["pct"] = pct
    env.filters["pp"] = points
    env.filters["excerpt"] = _excerpt
    env.filters["md"] = _markdown_escape
    return env


def _excerpt(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


# NUL, and the bidi controls that embed, override or isolate (U+202A-202E, U+2066-2069): in data they can hide
# or reorder what an analyst reads (a "Trojan source" line); the report sets direction itself.
_INVISIBLE = dict.fromkeys([0, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])


def clean(text: str) -> str:
    """Every string printed in a report: without NUL and without bidi embedding/override/isolate controls."""
    return text.translate(_INVISIBLE)


def _markdown_escape(text: object) -> str:
    """Untrusted text in Markdown: no raw HTML, no table breaks, no link or emphasis syntax."""
    out = clean(str(text))
    for ch in "\\`*_{}[]()#+!|<>":
        out = out.replace(ch, "\\" + ch)
    return out


def render_markdown(report: WeeklyReport, path: Path) -> Path:
    path.write_text(_environment(False).get_template("report.md.j2").render(r=report), encoding="utf-8")
    return path


def render_html(report: WeeklyReport) -> str:
    """A self-contained page: charts are data URIs, styles inline, statement text escaped (autoescape)."""
    return str(_environment(True).get_template("report.html.j2").render(r=report))


def _offline_fetcher() -> Any:
    """WeasyPrint may read data: URLs only; anything else would leave the machine, so it fails instead."""
    from weasyprint import urls

    if hasattr(urls, "URLFetcher"):  # WeasyPrint >= 70
        return urls.URLFetcher(allowed_protocols={"data"}, fail_on_errors=True, timeout=1)

    def fetch(url: str, *args: Any, **kwargs: Any) -> Any:  # older WeasyPrint: a plain function
        if not url.startswith("data:"):
            raise ValueError(f"the report renderer loads nothing from the network ({url[:60]})")
        return urls.default_url_fetcher(url, *args, **kwargs)

    return fetch


def render_pdf(html: str, path: Path) -> Path:
    """The HTML page as PDF with WeasyPrint (Pango shapes Arabic and lays it right to left)."""
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango libraries are missing
        raise TrackerError(
            f"PDF needs WeasyPrint and Pango ({exc}); apt-get install libpango-1.0-0 libpangoft2-1.0-0"
        ) from None
    weasyprint.HTML(string=html, base_url=None, url_fetcher=_offline_fetcher()).write_pdf(str(path))
    return path


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
