"""Stage `report`: the weekly report for one ISO week as Markdown, self-contained HTML and PDF, with its charts."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from tracker import trends
from tracker.config import Settings
from tracker.errors import ScoringError, TrackerError
from tracker.formatting import day_start
from tracker.models import TARGET_NAMES
from tracker.pipeline.alerts import backtest
from tracker.pipeline.score import current_versions, make_scorers
from tracker.pipeline.trends import compute_trends, make_charts, make_target_charts
from tracker.regime_alerts import RULE as REGIME_RULE
from tracker.reports import TargetRow, build_weekly_report, iso_week, target_rows
from tracker.storage import Store
from tracker.trends import TrendsResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportFiles:
    week: str
    markdown: Path
    html: Path
    pdf: Path
    charts: list[Path]


def last_complete_week(today: date) -> date:
    """Monday of the last ISO week that has ended before `today`."""
    return today - timedelta(days=today.weekday() + 7)


def write_report(
    settings: Settings, store: Store, *, week: date, out: Path, now: datetime, versions: Sequence[str] | None = None
) -> ReportFiles:
    """The weekly report for the ISO week starting `week` (a Monday): Markdown, self-contained HTML, PDF, and
    the charts as PNG and SVG beside them. The same numbers feed all three."""
    # WeasyPrint and Jinja load only when a report is written.
    from tracker.render import data_uri, render_html, render_markdown, render_pdf

    rs = settings.report
    end = week + timedelta(days=6)
    lo, hi = day_start(week), day_start(end + timedelta(days=1))
    if store.count_documents(since=lo, until=hi) == 0:  # cheap check before the full-history trends
        raise TrackerError(f"no documents in {iso_week(week)}; nothing to report")
    versions = list(versions) if versions is not None else current_versions(settings, store)
    # Regimes and change points from all stored history, exactly as `tracker trends` shows them (one source of
    # truth); the week's own numbers come from its rows only.
    full = compute_trends(settings, store, by="actor", versions=versions)
    if not full.start <= week <= full.end:
        raise TrackerError(f"no documents in {iso_week(week)}; pick a week between {full.start} and {full.end}")
    by_source = compute_trends(
        settings, store, since=week - timedelta(days=7), until=end, by="source", versions=versions
    )
    stored = [
        {
            "rule": a.rule,
            "scope": a.scope,
            "severity": a.severity,
            "opened_at": a.opened_at,
            "resolved_at": a.resolved_at,
            "peak_share": a.peak_share,
            "baseline_share": a.baseline_share,
        }
        for a in store.list_alerts(limit=10_000)
        if a.rule != REGIME_RULE  # the report has its own regime section
    ]
    if not stored:  # no alert job has run over this history: show what the rules would have said, and say so
        replayed = backtest(settings, store, since=week - timedelta(days=60), until=end, versions=versions)
        stored = [
            {
                **a,
                "opened_at": date.fromisoformat(a["opened_at"]),
                "resolved_at": date.fromisoformat(a["resolved_at"]) if a["resolved_at"] else None,
                "backtest": True,
            }
            for a in replayed
            if a["rule"] != REGIME_RULE
        ]
    statements = store.top_documents(versions, lo, hi, None, None, limit=rs.statements)
    unscored = store.unscored_counts()
    report = build_weekly_report(
        start=week,
        weekly=full.weekly,
        weekly_by_actor=full.weekly_by_key,
        weekly_by_source=by_source.weekly_by_key,
        regimes=full.regimes,
        change_points=full.change_points,
        alerts=stored,
        statements=statements,
        methodology={
            "text": _methodology(settings, full, unscored, any(a.get("backtest") for a in stored)),
            "threshold_pp": round(100 * rs.direction_threshold),
            "min_weekly": settings.trends.min_weekly_documents,
        },
        threshold=rs.direction_threshold,
    )
    report = replace(
        report, by_target=_toward_whom(settings, store, versions, week), target_quality=_target_quality(settings)
    )
    out.mkdir(parents=True, exist_ok=True)
    chart_start = week - timedelta(weeks=rs.chart_weeks - 1)
    recent = full.window(chart_start, store.source_names(day_start(chart_start), hi), end=end)
    opened = [a["opened_at"] for a in stored if recent.start <= a["opened_at"] <= recent.end]
    charts = make_charts(settings, recent, out, made_on=now.date(), alerts=opened, scope="last 12 weeks")
    trend_png = out / "trend.png"
    toward = compute_trends(settings, store, by="target", versions=versions)  # the US line over all history
    charts += make_target_charts(settings, toward, out, made_on=now.date())
    figures = {"trend_png": trend_png.name, "trend_data_uri": data_uri(trend_png)}
    if (out / "toward_us.png").exists():
        figures |= {"toward_us_png": "toward_us.png", "toward_us_data_uri": data_uri(out / "toward_us.png")}
    report = replace(report, charts=figures)
    html = render_html(report)
    html_path = out / "report.html"
    html_path.write_text(html, encoding="utf-8")
    return ReportFiles(
        week=report.week,
        markdown=render_markdown(report, out / "report.md"),
        html=html_path,
        pdf=render_pdf(html, out / "report.pdf"),
        charts=charts,
    )


def _counting(unit: str) -> str:
    if unit != "stories":
        return "Counts: every document, copies included."
    return (
        "Counts: stories, so forwards, reposts and lightly edited copies of one text count once, at their first "
        "time (trends.count)."
    )


def _toward_whom(settings: Settings, store: Store, versions: Sequence[str], week: date) -> list[TargetRow]:
    """The week's and the prior week's documents by target (from the model's target head), and by target and
    kind: statements and reports counted apart."""
    lo, hi = day_start(week - timedelta(days=7)), day_start(week + timedelta(days=7))
    series = {}
    for by in ("target", "target_kind"):
        agg = store.daily_aggregates(versions, by=by, since=lo, until=hi, unit=settings.trends.count)
        series[by] = (
            trends.build_series(agg, freq="W", min_documents=settings.trends.min_weekly_documents)
            if not agg.empty
            else None
        )
    return target_rows(series["target"], series["target_kind"], week)


def _target_quality(settings: Settings) -> dict[str, dict[str, float]]:
    """Each configured language's target F1 on its dev set, from the card of the model that scores it (the target
    head's dev_metrics, measured when it was trained); a language without them is left out."""
    out: dict[str, dict[str, float]] = {}
    for lang, scorer in make_scorers(settings).items():
        try:
            section = scorer.head_meta.get("targets") or {}
        except ScoringError as exc:
            log.warning("no target figures for %s in the report: %s", lang, exc)
            continue
        metrics = (section.get("dev_metrics") or {}).get(lang) or {}
        figures = {code: m.get("f1") for code, m in metrics.items() if code in TARGET_NAMES and isinstance(m, dict)}
        if clean := {code: float(f1) for code, f1 in figures.items() if isinstance(f1, int | float)}:
            out[lang] = clean
    return out


def write_weekly_report_once(settings: Settings, store: Store, *, now: datetime) -> str | None:
    """Write last week's report once, when that week has documents and no report yet; returns its PDF path."""
    week = last_complete_week(now.date())
    out = settings.outputs_dir / "reports" / iso_week(week)
    if (out / "report.pdf").exists():
        return None
    try:
        files = write_report(settings, store, week=week, out=out, now=now)
    except TrackerError as exc:
        log.info("no weekly report for %s: %s", iso_week(week), exc)
        return None
    return str(files.pdf)


def _methodology(settings: Settings, result: TrendsResult, unscored: dict[str, int], replayed: bool) -> str:
    reasons = "; ".join(f"{reason}: {n:,}" for reason, n in unscored.items()) or "none"
    alerts_note = (
        " No alert job has run over this period, so the alerts shown are a backtest of the configured rules."
        if replayed
        else ""
    )
    return (
        f"Scores by {', '.join(result.versions)}: a transformer classifier gives each text five probabilities, "
        "one per level (0 cooperative, 1 neutral, 2 critical, 3 threatening, 4 violent); the level is the most "
        "probable one and the hostility score is the expected level divided by 4. Hostile share = documents at "
        f"level 3 or 4. {_counting(result.unit)} Sources covered: {len(result.sources)} "
        f"({', '.join(result.sources[:8])}"
        f"{', ...' if len(result.sources) > 8 else ''}). Documents not scored: {reasons}. Direction: hostile share "
        f"against the prior week and the 4-week norm, threshold {100 * settings.report.direction_threshold:.0f} "
        "points. Regimes: PELT change points on daily mean hostility, each day weighted by its documents, over all "
        "stored history (as tracker trends shows them), judged against the series' long-run median "
        f"± {settings.trends.regime_k:g} robust SD of its 28-day mean. Alerts: robust z of the daily share "
        f"against a 28-day median/MAD baseline.{alerts_note}"
        + "".join(f" Regimes: {note}." for note in result.notes)
        + (" DATA: the bundled SYNTHETIC demo corpus; no text in it was really published." if result.synthetic else "")
    )
