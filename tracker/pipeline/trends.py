"""Stage `trends` (and `chart`): series, change points and regimes from the stored scores; briefing charts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from tracker import trends
from tracker.config import Settings
from tracker.errors import TrackerError
from tracker.events import load_events
from tracker.formatting import day_bounds
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
) -> TrendsResult:
    """Daily and weekly series (overall, and per actor/source/language with `by`), change points, regimes.
    Only scores of `versions` count (default: the configured models' current versions)."""
    ts = settings.trends
    versions = list(versions) if versions is not None else current_versions(settings, store)
    lo, hi = day_bounds(since, until)
    agg = store.daily_aggregates(versions, by=by, since=lo, until=hi)
    if agg.empty:
        raise TrackerError(
            "no documents in that period" if (since or until) else "the store holds no documents; run tracker ingest"
        )
    if int(agg["documents"].sum()) == 0:
        raise TrackerError("no document in that period is scored by the configured model; run tracker score")
    start = since or agg["day"].min().date()
    end = until or agg["day"].max().date()
    total = trends.overall(agg)
    daily = trends.build_series(total, start=start, end=end, min_documents=ts.min_daily_documents)
    weekly = trends.build_series(total, freq="W", start=start, end=end, min_documents=ts.min_weekly_documents)
    detector = trends.make_detector(ts.detector.name, **ts.detector.params())
    rule = regime_rule(settings)
    found = trends.find_regimes(daily, detector, rule)
    daily_by_key = weekly_by_key = None
    if by:
        daily_by_key = trends.build_series(agg, start=start, end=end, min_documents=ts.min_daily_documents)
        weekly_by_key = trends.build_series(agg, freq="W", start=start, end=end, min_documents=ts.min_weekly_documents)
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
        notes=tuple(n for n in [trends.history_note(len(daily), detector)] if n),
        strengths=found.strengths,
        hidden=found.hidden,
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
    """The three briefing charts as PNG and SVG: trend, weekly hostile share, small multiples (with `by`)."""
    # matplotlib is heavy: the chart modules load only when a chart is drawn, so `tracker run` with nothing
    # new stays fast.
    from tracker import charts
    from tracker.render import render_figure

    meta = charts.ChartMeta(
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
    )
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
    for name, fig in figures:
        paths += render_figure(fig, out_dir, name)
    return paths
