"""Stage `trends` (and `chart`): series, change points and regimes from the stored scores; briefing charts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from tracker import trends
from tracker.config import Settings
from tracker.errors import TrackerError
from tracker.events import load_events
from tracker.formatting import day_bounds
from tracker.models import TARGET_NAMES
from tracker.pipeline.score import current_versions
from tracker.storage import Store
from tracker.trends import TrendsResult


def compute_trends(
    settings: Settings,
    store: Store,
    *,
    since: date | None = None,
    until: date | None = None,
    by: str | None = None,
    versions: Sequence[str] | None = None,
    unit: str | None = None,
) -> TrendsResult:
    """Daily and weekly series (overall, and per actor/source/language/kind/target with `by`, each key with its
    own change points and regimes), change points, regimes. Only scores of `versions` count (default: the
    configured models' current versions). By target, a document counts toward each of its targets, and the
    overall series still counts it once. `unit`: stories (each story once, by its first seen copy; the default
    from `trends.count`) or documents (every copy)."""
    ts = settings.trends
    unit = unit or ts.count
    versions = list(versions) if versions is not None else current_versions(settings, store)
    lo, hi = day_bounds(since, until)
    agg = store.daily_aggregates(versions, by=None if by == "target" else by, since=lo, until=hi, unit=unit)
    by_key = store.daily_aggregates(versions, by=by, since=lo, until=hi, unit=unit) if by == "target" else agg
    if agg.empty:
        raise TrackerError(
            "no documents in that period" if (since or until) else "the store holds no documents; run tracker ingest"
        )
    if int(agg["documents"].sum()) == 0:
        raise TrackerError(
            "no document in that period is scored by the configured model; run tracker score "
            "(tracker score --rescore when the stored scores come from an older model version)"
        )
    start = since or agg["day"].min().date()
    end = until or agg["day"].max().date()
    total = trends.overall(agg)
    daily = trends.build_series(total, start=start, end=end, min_documents=ts.min_daily_documents)
    weekly = trends.build_series(total, freq="W", start=start, end=end, min_documents=ts.min_weekly_documents)
    detector = trends.make_detector(ts.detector.name, **ts.detector.params())
    rule = regime_rule(settings)
    found = trends.find_regimes(daily, detector, rule)
    daily_by_key = weekly_by_key = None
    scopes: dict[str, trends.RegimeSearch] = {}
    notes = [n for n in [trends.history_note(len(daily), detector)] if n]
    if by == "target" and by_key.empty:
        notes.append("no scored document has a target: the configured model has no target head")
    elif by:
        daily_by_key = trends.build_series(by_key, start=start, end=end, min_documents=ts.min_daily_documents)
        weekly_by_key = trends.build_series(
            by_key, freq="W", start=start, end=end, min_documents=ts.min_weekly_documents
        )
        for key, part in daily_by_key.groupby("key", sort=True):  # each key judged against its own long run
            scopes[str(key)] = trends.find_regimes(part.reset_index(drop=True), detector, rule)
    return TrendsResult(
        start=start,
        end=end,
        daily=daily,
        weekly=weekly,
        by=by,
        daily_by_key=daily_by_key,
        weekly_by_key=weekly_by_key,
        change_points=found.change_points,
        regimes=found.regimes,
        versions=versions,
        sources=store.source_names(lo, hi),
        reference=found.reference,
        spread=found.spread,
        notes=tuple(notes),
        strengths=found.strengths,
        hidden=found.hidden,
        scopes=scopes,
        unit=unit,
    )


def regime_rule(settings: Settings) -> trends.RegimeRule:
    ts = settings.trends
    return trends.RegimeRule(
        k=ts.regime_k, window=ts.regime_window_days, weekly_below=ts.weekly_below_daily_documents, min_z=ts.min_change_z
    )


def make_charts(
    settings: Settings,
    result: TrendsResult,
    out_dir: Path,
    *,
    made_on: date,
    alerts: Sequence[date] = (),
    scope: str = "all actors",
) -> list[Path]:
    """The briefing charts as PNG and SVG: trend, weekly hostile share, small multiples (with `by`). By target,
    also hostility toward the US with its own regimes (see `make_target_charts`)."""
    # matplotlib is heavy: the chart modules load only when a chart is drawn, so `tracker run` with nothing
    # new stays fast.
    from tracker import charts
    from tracker.render import render_figure

    meta = _meta(settings, result, made_on, scope)
    events = load_events(settings.events_file)
    paths: list[Path] = []
    figures = [
        (
            "trend",
            charts.trend_chart(
                result.daily,
                result.regimes,
                events,
                meta,
                alerts=alerts,
                reference=result.reference,
                strengths=result.strengths,
            ),
        ),
        ("weekly_hostile_share", charts.weekly_hostile_chart(result.weekly, meta)),
    ]
    if result.weekly_by_key is not None and result.by:
        figures.append(
            (
                f"by_{result.by}",
                charts.small_multiples(
                    result.weekly_by_key, result.weekly, meta, by=result.by, limit=settings.trends.small_multiples
                ),
            )
        )
    if result.by == "target" and result.daily_by_key is not None:
        figures = [f for f in figures if f[0] != "by_target"] + _target_figures(settings, result, meta, events)
    for name, fig in figures:
        paths += render_figure(fig, out_dir, name)
    return paths


def make_target_charts(settings: Settings, toward: TrendsResult, out_dir: Path, *, made_on: date) -> list[Path]:
    """Hostility toward the US (its own regimes) and small multiples by target, as PNG and SVG; none when no
    scored document has a target."""
    from tracker.render import render_figure

    if toward.by != "target" or toward.daily_by_key is None:
        return []
    meta = _meta(settings, toward, made_on, "all targets")
    paths: list[Path] = []
    for name, fig in _target_figures(settings, toward, meta, load_events(settings.events_file)):
        paths += render_figure(fig, out_dir, name)
    return paths


def _meta(settings: Settings, result: TrendsResult, made_on: date, scope: str) -> Any:
    from tracker import charts

    return charts.ChartMeta(
        start=result.start,
        end=result.end,
        sources=len(result.sources),
        documents=int(result.daily["documents"].sum()),
        unscored=int(result.daily["unscored"].sum()),
        models=result.versions,
        made_on=made_on,
        data_note="SYNTHETIC demo data" if result.synthetic else "",
        scope=scope,
        smoothing_days=settings.trends.smoothing_days,
        unit=result.unit,
    )


def _target_figures(settings: Settings, toward: TrendsResult, meta: Any, events: Any) -> list[tuple[str, Any]]:
    from tracker import charts

    assert toward.daily_by_key is not None and toward.weekly_by_key is not None
    figures = []
    us = toward.scopes.get("US")
    if us is not None:
        daily = toward.daily_by_key[toward.daily_by_key["key"] == "US"].reset_index(drop=True)
        us_meta = replace(meta, scope="toward the United States", documents=int(daily["documents"].sum()), unscored=0)
        figure = charts.trend_chart(daily, us.regimes, events, us_meta, reference=us.reference, strengths=us.strengths)
        figures.append(("toward_us", figure))
    named = toward.weekly_by_key.assign(key=toward.weekly_by_key["key"].map(lambda c: TARGET_NAMES.get(c, c)))
    figures.append(
        (
            "by_target",
            charts.small_multiples(named, toward.weekly, meta, by="target", limit=settings.trends.small_multiples),
        )
    )
    return figures
