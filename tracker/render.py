"""Writing outputs to files: charts as PNG (200 dpi) and SVG."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

DPI = 200


def render_figure(fig: Figure, out_dir: Path, name: str) -> list[Path]:
    """Save a figure as NAME.png and NAME.svg in `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=DPI, facecolor="white")
    fig.savefig(paths[1], facecolor="white")
    return paths
