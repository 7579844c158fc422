"""Briefing charts: matplotlib figures built from series and regimes. Returns figures; the caller saves them.

Made for slides: 16:9 at 200 dpi, large type, a title and subtitle that state the period and the source
count, axis labels with units, the Okabe-Ito colour-blind-safe palette, a footer with the data source, the
model version and the date made. Text stays text in SVG (searchable, editable).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede any pyplot import elsewhere

import matplotlib.dates as mdates
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from tracker.models import Event, Regime
from tracker.trends import ChangeStrength, prior_norm, smooth

# Okabe & Ito (2008), safe for the common colour-vision deficiencies.
BLUE, ORANGE, SKY, GREEN, YELLOW, NAVY, VERMILLION, PURPLE = (
    "#0072B2",
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
)
GREY, DARK = "#8C8C8C", "#222222"
REGIME_COLOURS = {"calm": SKY, "escalation": VERMILLION}
SIZE = (13.333, 7.5)  # 16:9 inches; 2667 x 1500 pixels at 200 dpi
STYLE: Any = {
    "font.family": "DejaVu Sans",  # ships with matplotlib; covers Latin and Arabic
    "font.size": 13,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#555555",
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 11,
    "legend.frameon": False,
    "svg.fonttype": "none",
}


@dataclass(frozen=True)
class ChartMeta:
    """What the title, subtitle and footer say."""

    start: date
    end: date
    sources: int
    documents: int
    unscored: int
    models: Sequence[str]
    made_on: date
    data_note: str = ""
    scope: str = "all actors"
    smoothing_days: int = 7
    extra: dict[str, Any] = field(default_factory=dict)
    unit: str = "stories"  # what `documents` counts: stories (copies of one text once) or documents

    @property
    def counted(self) -> str:
        """How many were counted: scored stories (copies of one text once) or scored documents."""
        return f"{self.documents:,} scored {'stories' if self.unit == 'stories' else 'documents'}"

    @property
    def period(self) -> str:
        return f"{self.start:%-d %b %Y} – {self.end:%-d %b %Y}"

    def footer(self) -> str:
        parts = [f"Data: {self.sources} sources, {self.counted}"]
        if self.unit == "stories":
            parts[0] += " (forwards and copies of one text counted once)"
        if self.unscored:
            parts.append(f"{self.unscored:,} not scored (no model for their language)")
        if self.data_note:
            parts.append(self.data_note)
        parts.append(f"Model: {', '.join(self.models)}")
        parts.append(f"Made {self.made_on:%-d %b %Y}")
        return "  ·  ".join(parts)


def _figure() -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=SIZE, dpi=200)


def _frame(fig: Figure, title: str, subtitle: str, meta: ChartMeta) -> None:
    fig.text(0.045, 0.965, title, fontsize=20, fontweight="bold", color=DARK, va="top", ha="left")
    fig.text(0.045, 0.912, subtitle, fontsize=13, color="#444444", va="top", ha="left")
    footer = "\n".join(textwrap.wrap(meta.footer(), 190))
    fig.text(0.045, 0.015, footer, fontsize=9.5, color="#555555", va="bottom", ha="left", linespacing=1.4)


def _date_axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator(minticks=5, maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _shade_regimes(ax: Any, regimes: Sequence[Regime], label: bool, strengths: Sequence[ChangeStrength] = ()) -> None:
    span = max((regimes[-1].end - regimes[0].start).days, 1) if regimes else 1
    opened = {c.day: c for c in strengths}  # weak change points are merged away before drawing (min_change_z)
    for r in regimes:
        colour = REGIME_COLOURS.get(r.kind)
        if colour is None:
            continue
        x0, x1 = pd.Timestamp(r.start), pd.Timestamp(r.end) + pd.Timedelta(days=1)
        ax.axvspan(x0, x1, color=colour, alpha=0.16, lw=0, zorder=0)
        if label and (r.end - r.start).days / span > 0.035:
            ax.text(
                x0 + (x1 - x0) / 2,
                0.015,
                f"{r.kind.capitalize()}\n{r.mean_hostility:.2f}"
                + (f"\n{opened[r.start].jump:+.2f} · z {abs(opened[r.start].z):.0f}" if r.start in opened else ""),
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=10.5,
                fontweight="bold",
                color=VERMILLION if r.kind == "escalation" else BLUE,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 1.5},
                zorder=4,  # above a line that runs low (a thin stream's calm), so the label stays readable
            )


def group_events(events: Sequence[Event], start: date, end: date, min_gap: float = 0.03) -> list[Event]:
    """Events in the period; those closer than `min_gap` of the period's length share one label."""
    span = max((end - start).days, 1)
    groups: list[list[Event]] = []
    for e in sorted(events, key=lambda e: e.day):
        if not start <= e.day <= end:
            continue
        if groups and (e.day - groups[-1][0].day).days / span < min_gap:
            groups[-1].append(e)
        else:
            groups.append([e])
    return [Event(g[0].day, " / ".join(e.label for e in g)) for g in groups]


def _annotate_events(ax: Any, events: Sequence[Event], start: date, end: date) -> None:
    for e in group_events(events, start, end):
        x = pd.Timestamp(e.day)
        ax.axvline(x, color="#444444", lw=0.9, ls=(0, (3, 3)), alpha=0.8, zorder=1)
        ax.text(
            x,
            0.985,
            "\n".join(textwrap.wrap(e.label, 30)),
            transform=ax.get_xaxis_transform(),
            rotation=90,
            linespacing=1.1,
            ha="right",
            va="top",
            fontsize=10,
            color="#333333",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 1.0},
            zorder=4,
        )


def trend_chart(
    daily: pd.DataFrame,
    regimes: Sequence[Regime],
    events: Sequence[Event],
    meta: ChartMeta,
    *,
    alerts: Sequence[date] = (),
    reference: float | None = None,
    strengths: Sequence[ChangeStrength] = (),
) -> Figure:
    """Daily mean hostility (faint points; hollow on low-volume days), a smoothed line, regimes shaded and
    labelled (with the jump and z of the change that opened each, when not weak), events annotated, alert
    markers, and the daily volume underneath."""
    fig = _figure()
    with matplotlib.rc_context(STYLE):
        grid = fig.add_gridspec(
            2, 1, height_ratios=[3.2, 1], hspace=0.08, left=0.075, right=0.975, top=0.80, bottom=0.12
        )
        ax = fig.add_subplot(grid[0])
        vol = fig.add_subplot(grid[1], sharex=ax)
        d = daily.sort_values("period")
        x = d["period"]
        has = d["documents"] > 0
        solid = has & ~d["low_volume"]
        thin = has & d["low_volume"]
        ax.scatter(
            x[solid], d["mean_hostility"][solid], s=9, color=GREY, alpha=0.35, lw=0, label="daily mean", zorder=2
        )
        ax.scatter(
            x[thin],
            d["mean_hostility"][thin],
            s=9,
            facecolors="none",
            edgecolors=GREY,
            alpha=0.35,
            lw=0.6,
            label="daily mean, low volume",
            zorder=2,
        )
        line = smooth(d["mean_hostility"], d["documents"].astype(float), meta.smoothing_days)
        ax.plot(x, line, color=BLUE, lw=2.4, label=f"{meta.smoothing_days}-day average (volume-weighted)", zorder=3)
        if reference is not None:
            ax.axhline(reference, color=DARK, lw=1.0, ls=":", zorder=1, label=f"long-run median ({reference:.2f})")
        _shade_regimes(ax, regimes, label=True, strengths=strengths)
        _annotate_events(ax, events, meta.start, meta.end)
        for a in alerts:
            ax.scatter([pd.Timestamp(a)], [0.97], marker="v", s=70, color=VERMILLION, zorder=5, clip_on=False)
        if alerts:
            ax.scatter([], [], marker="v", s=70 / 2.5**2, color=VERMILLION, label="alert opened")  # legend scales 2.5x
        ax.set_ylim(0, 1)
        ax.set_ylabel("Mean hostility\n(0 cooperative – 1 violent)")
        ax.grid(axis="y", color="#DDDDDD", lw=0.8)
        ax.tick_params(labelbottom=False)
        ax.legend(
            loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=5, handletextpad=0.4, columnspacing=1.4, markerscale=2.5
        )

        width = pd.Timedelta(days=1) * 0.9
        vol.bar(x, d["documents"], width=width, color=BLUE, alpha=0.55, lw=0, label="scored")
        vol.bar(x, d["unscored"], bottom=d["documents"], width=width, color=GREY, alpha=0.6, lw=0, label="not scored")
        vol.set_ylabel(("Stories" if meta.unit == "stories" else "Documents") + "\nper day")
        vol.grid(axis="y", color="#DDDDDD", lw=0.8)
        vol.legend(loc="upper left", ncols=2)
        _shade_regimes(vol, regimes, label=False)
        _date_axis(vol)
        vol.set_xlim(pd.Timestamp(meta.start) - pd.Timedelta(days=2), pd.Timestamp(meta.end) + pd.Timedelta(days=2))
        _frame(
            fig,
            f"Hostility in statements and news, {meta.scope}",
            f"{meta.period}  ·  {meta.counted} from {meta.sources} sources  ·  "
            "shaded: calm and escalation periods" + (" (mean; opening jump · z)" if strengths else ""),
            meta,
        )
    return fig


def weekly_hostile_chart(weekly: pd.DataFrame, meta: ChartMeta, norm_weeks: int = 4) -> Figure:
    """Weekly share of documents at level 3 or 4, bars, with the prior `norm_weeks`-week norm as a line."""
    fig = _figure()
    with matplotlib.rc_context(STYLE):
        ax = fig.add_axes((0.075, 0.13, 0.9, 0.7))
        w = weekly.sort_values("period").reset_index(drop=True)
        share = w["hostile_share"]
        norm = prior_norm(share, norm_weeks)
        width = pd.Timedelta(days=7) * 0.8
        solid = ~w["low_volume"]
        ax.bar(w["period"][solid], share[solid], width=width, align="edge", color=ORANGE, lw=0, label="hostile share")
        ax.bar(
            w["period"][~solid],
            share[~solid],
            width=width,
            align="edge",
            color="white",
            edgecolor=ORANGE,
            hatch="////",
            lw=0.6,
            label="hostile share, low-volume week",
        )
        ax.step(w["period"], norm, where="post", color=DARK, lw=1.6, label=f"prior {norm_weeks}-week norm")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylim(0, max(0.05, float(share.max(skipna=True) or 0) * 1.15))
        ax.set_ylabel("Documents at level 3+ (threatening or violent)")
        ax.grid(axis="y", color="#DDDDDD", lw=0.8)
        ax.legend(loc="upper left", ncols=3)
        _date_axis(ax)
        _frame(
            fig,
            f"Share of threatening or violent texts per week, {meta.scope}",
            f"{meta.period}  ·  ISO weeks, UTC  ·  {meta.documents:,} documents from {meta.sources} sources  ·  "
            f"line: mean of the previous {norm_weeks} weeks",
            meta,
        )
    return fig


def small_multiples(
    weekly_by_key: pd.DataFrame,
    weekly_all: pd.DataFrame,
    meta: ChartMeta,
    *,
    by: str,
    limit: int = 6,
    window: int = 4,
) -> Figure:
    """One panel per actor (or source), the busiest first: a volume-weighted `window`-week average of the
    weekly mean hostility, against the same line for all of them together."""
    fig = _figure()
    with matplotlib.rc_context(STYLE):
        totals = weekly_by_key.groupby("key")["documents"].sum().sort_values(ascending=False)
        keys = [k for k in totals.index if totals[k] > 0][:limit]
        cols = 3 if len(keys) > 4 else max(len(keys), 1)
        rows = max((len(keys) + cols - 1) // cols, 1)
        grid = fig.add_gridspec(rows, cols, left=0.07, right=0.98, top=0.80, bottom=0.12, hspace=0.45, wspace=0.12)
        allw = weekly_all.sort_values("period")
        overall_line = smooth(allw["mean_hostility"], allw["documents"].astype(float), window)
        first = None
        for i, key in enumerate(keys):
            ax = fig.add_subplot(grid[i // cols, i % cols], sharex=first, sharey=first)
            first = first or ax
            part = weekly_by_key[weekly_by_key["key"] == key].sort_values("period")
            ax.plot(allw["period"], overall_line, color=GREY, lw=1.0, alpha=0.9, label="all")
            line = smooth(part["mean_hostility"], part["documents"].astype(float), window)
            ax.plot(part["period"], line, color=BLUE, lw=1.9, label=str(key))
            # name and count in separate texts: bidi reordering of a mixed Arabic/Latin string would move the count
            ax.set_title(str(key), loc="left", fontsize=12.5)
            ax.set_title(f"{int(totals[key]):,} docs", loc="right", fontsize=10.5, color="#555555")
            ax.set_ylim(0, 1)
            ax.grid(axis="y", color="#E5E5E5", lw=0.7)
            if i % cols == 0:
                ax.set_ylabel("Mean hostility")
            _date_axis(ax)
        _frame(
            fig,
            f"Hostility by {by}: the {len(keys)} with the most documents",
            f"{meta.period}  ·  {window}-week average of mean hostility (0 cooperative – 1 violent)  ·  "
            f"grey: all {by}s together",
            meta,
        )
    return fig
