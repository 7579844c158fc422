"""Use-cases: wire the pure core to the adapters. Every edge (store, clock, progress) is passed in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.config import Settings
from tracker.errors import TrackerError
from tracker.models import Document, IngestSummary, Regime, RowError
from tracker.progress import ProgressFactory, no_progress
from tracker.scoring.base import Scorer
from tracker.scoring.service import ScoreSummary, score_store
from tracker.sources.files import list_files, read_rows
from tracker.sources.rows import RowOptions, parse_row
from tracker.storage import Store

if TYPE_CHECKING:
    import pandas as pd

    from tracker.scoring.usecases import EvalResult, TrainResult

log = logging.getLogger(__name__)

MAX_KEPT_ERRORS = 1000


def open_store(settings: Settings) -> Store:
    """Open the configured store (SQLite in the tracker home unless store.url says otherwise)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.database_url)


def row_options(settings: Settings, source: str | None = None) -> RowOptions:
    ing = settings.ingest
    return RowOptions(
        timezone=ing.timezone,
        date_formats=ing.date_formats,
        max_text_chars=ing.max_text_chars,
        columns=dict(ing.columns),
        source=source,
    )


def ingest_paths(
    store: Store,
    paths: Iterable[str | Path],
    options: RowOptions,
    *,
    now: datetime,
    batch_size: int = 1000,
    progress: ProgressFactory = no_progress,
    on_error: Callable[[RowError], None] | None = None,
) -> IngestSummary:
    """Read CSV/JSONL files or folders into the store in batches; bad rows are reported and skipped.

    Each batch is committed on its own, so a failure later in a file keeps what was already stored.
    """
    summary = IngestSummary()
    files, problems = list_files([Path(p) for p in paths])
    run_id = store.start_run("ingest", now)

    def reject(err: RowError) -> None:
        summary.rejected += 1
        if len(summary.errors) < MAX_KEPT_ERRORS:
            summary.errors.append(err)
        if on_error is not None:
            on_error(err)

    for problem in problems:
        reject(problem)
    try:
        for path in files:
            summary.files += 1
            file_options = options if options.source else _with_source(options, path.stem)
            bar = progress(f"ingest {path.name}", path.stat().st_size, "B")
            batch: list[Document] = []
            try:
                for item in read_rows(
                    path,
                    columns=dict(options.columns),
                    max_cell_chars=options.max_text_chars,
                    progress=bar.update,
                ):
                    if isinstance(item, RowError):
                        reject(item)
                        continue
                    line, raw = item
                    parsed = parse_row(raw, path=str(path), line=line, options=file_options, fetched_at=now)
                    if isinstance(parsed, RowError):
                        reject(parsed)
                        continue
                    summary.read += 1
                    batch.append(parsed)
                    if len(batch) >= batch_size:
                        _flush(store, batch, summary)
                if batch:
                    _flush(store, batch, summary)
            finally:
                bar.close()
    except TrackerError as exc:
        store.finish_run(run_id, now, "failed", summary.as_counts(), str(exc))
        raise
    except BaseException as exc:
        store.finish_run(run_id, now, "failed", summary.as_counts(), f"{type(exc).__name__}: {exc}")
        raise
    status = "ok" if summary.read else "failed"
    store.finish_run(run_id, now, status, summary.as_counts(), None if summary.read else "no rows could be read")
    return summary


def _with_source(options: RowOptions, source: str) -> RowOptions:
    return replace(options, source=source)


def _flush(store: Store, batch: list[Document], summary: IngestSummary) -> None:
    added = store.save_documents(batch)
    summary.added += added
    summary.duplicates += len(batch) - added
    batch.clear()


def score(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    rescore: bool = False,
    progress: ProgressFactory = no_progress,
    scorers: Mapping[str, Scorer] | None = None,
) -> ScoreSummary:
    """Detect missing languages, then score unscored documents with the model for their language."""
    from tracker.language import LanguageDetector
    from tracker.scoring.usecases import make_scorers

    sc = settings.scoring
    detector = LanguageDetector(sc.detect_languages) if sc.detect_language else None
    run_id = store.start_run("score", now)
    try:
        summary = score_store(
            store,
            scorers if scorers is not None else make_scorers(settings),
            now=now,
            rescore=rescore,
            chunk_size=sc.chunk_size,
            detect=detector.detect if detector else None,
            progress=progress,
        )
    except BaseException as exc:
        store.finish_run(run_id, datetime.now(UTC), "failed", {}, f"{type(exc).__name__}: {exc}")
        raise
    store.finish_run(run_id, datetime.now(UTC), "ok", summary.as_counts())
    return summary


def train(
    settings: Settings,
    *,
    data: list[Path],
    out: Path | None,
    seed: int,
    holdout: float,
    now: datetime,
    encoder: str | None = None,
) -> TrainResult:
    """Train the default head on the seed set (or given files); see tracker.scoring.usecases.train_head."""
    from tracker.scoring.usecases import DEFAULT_ENCODER, seed_dir, train_head

    return train_head(
        settings,
        encoder=encoder or DEFAULT_ENCODER,
        data=data or [seed_dir()],
        out=out or settings.models_dir / "minilm-hostility",
        seed=seed,
        holdout=holdout,
        now=now,
    )


def evaluate(settings: Settings, path: Path, model: str | None = None) -> EvalResult:
    """Metrics of the chosen model and of the keyword baseline on a labeled file."""
    from tracker.scoring.usecases import evaluate_file, make_scorer, pick_model

    return evaluate_file(path, make_scorer(settings, pick_model(settings, model)))


@dataclass(frozen=True)
class TrendsResult:
    """Series, change points and regimes for a period, with what a chart needs to say where they came from."""

    start: date
    end: date
    daily: pd.DataFrame
    weekly: pd.DataFrame
    by: str | None
    daily_by_key: pd.DataFrame | None
    weekly_by_key: pd.DataFrame | None
    change_points: list[date]
    regimes: list[Regime]
    versions: list[str]
    sources: list[str]
    reference: float
    spread: float

    @property
    def synthetic(self) -> bool:
        """Every source is one of the bundled demo's (so charts and reports must say the data are invented)."""
        return bool(self.sources) and all(s.startswith("demo_") for s in self.sources)

    def window(self, start: date, sources: list[str]) -> TrendsResult:
        """The same result from `start` on: series sliced, regimes clipped, the long run kept (a window judged
        against itself would call its quietest stretch "calm" whatever the long run says)."""
        import pandas as pd

        first = max(start, self.start)
        cut = pd.Timestamp(first)
        return replace(
            self,
            start=first,
            daily=self.daily[self.daily["period"] >= cut].reset_index(drop=True),
            weekly=self.weekly[self.weekly["period"] >= cut].reset_index(drop=True),
            by=None,
            daily_by_key=None,
            weekly_by_key=None,
            change_points=[d for d in self.change_points if d >= first],
            regimes=[replace(r, start=max(r.start, first)) for r in self.regimes if r.end >= first],
            sources=sources,
        )


def current_versions(settings: Settings, store: Store) -> list[str]:
    """The versions of the configured models (what trends count); a model whose files are not here falls back
    to the version of that name last used for scoring."""
    from tracker.errors import ScoringError
    from tracker.scoring.transformer import model_version
    from tracker.scoring.usecases import spec_of

    versions = []
    for m in settings.scoring.models.values():
        try:
            versions.append(str(model_version(spec_of(m), settings.models_dir / "digests.json")))
        except ScoringError as exc:
            fallback = store.latest_version_named(m.name)
            log.warning("%s; trends use the last stored version of %s: %s", exc, m.name, fallback)
            if fallback:
                versions.append(fallback)
    return versions


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
    from tracker import trends

    ts = settings.trends
    versions = list(versions) if versions is not None else current_versions(settings, store)
    lo = datetime.combine(since, time.min, UTC) if since else None
    hi = datetime.combine(until + timedelta(days=1), time.min, UTC) if until else None
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
    rule = trends.RegimeRule(k=ts.regime_k, window=ts.regime_window_days)
    change_points, regimes = trends.detect_regimes(daily, detector, rule)
    reference, spread = trends.long_run(daily, rule)
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
        change_points=change_points,
        regimes=regimes,
        versions=versions,
        sources=store.source_names(lo, hi),
        reference=reference,
        spread=spread,
    )


def _series_rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    rows = []
    for r in frame.itertuples(index=False):
        rows.append(
            {
                "date": r.period.date().isoformat(),
                "key": r.key,
                "documents": int(r.documents),
                "unscored": int(r.unscored),
                "mean_hostility": None if r.mean_hostility != r.mean_hostility else round(float(r.mean_hostility), 4),
                "hostile_share": None if r.hostile_share != r.hostile_share else round(float(r.hostile_share), 4),
                "violent_share": None if r.violent_share != r.violent_share else round(float(r.violent_share), 4),
                "low_volume": bool(r.low_volume),
            }
        )
    return rows


def trends_as_json(result: TrendsResult) -> dict[str, object]:
    """The `tracker trends --json` document."""
    series = _series_rows(result.daily)
    if result.daily_by_key is not None:
        series += _series_rows(result.daily_by_key)
    return {
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "model_versions": result.versions,
        "change_points": [d.isoformat() for d in result.change_points],
        "regimes": [r.as_dict() for r in result.regimes],
        "long_run": {"median_daily_hostility": round(result.reference, 4), "spread": round(result.spread, 4)},
        "series": series,
    }


def trends_as_text(result: TrendsResult, weeks: int = 12) -> str:
    """A readable summary: regimes, change points, the last weeks, and keys when split."""
    d = result.daily
    lines = [
        f"Hostility {result.start} to {result.end}: {int(d['documents'].sum()):,} scored documents from "
        f"{len(result.sources)} sources, {int(d['unscored'].sum()):,} not scored; model {', '.join(result.versions)}",
        f"Scale: 0 = cooperative, 1 = violent. Long-run median of daily means {result.reference:.3f}; "
        f"calm below {result.reference - result.spread:.3f}, escalation above {result.reference + result.spread:.3f}.",
        "",
        f"{'regime':<12}{'from':<12}{'to':<12}{'days':>6}{'mean':>8}{'documents':>11}",
    ]
    for r in result.regimes:
        days = (r.end - r.start).days + 1
        lines.append(f"{r.kind:<12}{r.start!s:<12}{r.end!s:<12}{days:>6}{r.mean_hostility:>8.3f}{r.documents:>11,}")
    lines += ["", "change points: " + (", ".join(map(str, result.change_points)) or "none"), ""]
    lines.append(f"{'ISO week':<10}{'documents':>10}{'unscored':>10}{'mean':>8}{'hostile':>9}{'violent':>9}")
    for r in result.weekly.tail(weeks).itertuples(index=False):
        iso = r.period.isocalendar()
        flag = "  (low volume)" if r.low_volume else ""
        lines.append(
            f"{iso.year}-W{iso.week:02d}{r.documents:>10,}{r.unscored:>10,}{_pct(r.mean_hostility, False):>8}"
            f"{_pct(r.hostile_share):>9}{_pct(r.violent_share):>9}{flag}"
        )
    if result.daily_by_key is not None:
        lines += ["", f"{'by ' + (result.by or ''):<30}{'documents':>10}{'mean':>8}{'hostile':>9}"]
        per = result.daily_by_key.groupby("key")[["documents", "hostility_sum", "hostile"]].sum()
        per = per.sort_values("documents", ascending=False)
        for key, r in per.iterrows():
            n = r["documents"]
            mean = r["hostility_sum"] / n if n else float("nan")
            share = r["hostile"] / n if n else float("nan")
            lines.append(f"{str(key)[:29]:<30}{int(n):>10,}{_pct(mean, False):>8}{_pct(share):>9}")
    return "\n".join(lines)


def _pct(value: float, percent: bool = True) -> str:
    if value != value:
        return "-"
    return f"{100 * value:.0f}%" if percent else f"{value:.3f}"


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
    from tracker import charts
    from tracker.events import load_events
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
            charts.trend_chart(result.daily, result.regimes, events, meta, alerts=alerts, reference=result.reference),
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
    from tracker.alerting import backtest
    from tracker.render import data_uri, render_html, render_markdown, render_pdf
    from tracker.reports import build_weekly_report, iso_week

    rs = settings.report
    end = week + timedelta(days=6)
    lo = datetime.combine(week, time.min, UTC)
    hi = datetime.combine(end + timedelta(days=1), time.min, UTC)
    if store.count_documents(since=lo, until=hi) == 0:  # cheap check before the full-history trends
        raise TrackerError(f"no documents in {iso_week(week)}; nothing to report")
    versions = list(versions) if versions is not None else current_versions(settings, store)
    full = compute_trends(settings, store, until=end, by="actor", versions=versions)
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
    out.mkdir(parents=True, exist_ok=True)
    chart_start = week - timedelta(weeks=rs.chart_weeks - 1)
    recent = full.window(chart_start, store.source_names(datetime.combine(chart_start, time.min, UTC), hi))
    opened = [a["opened_at"] for a in stored if recent.start <= a["opened_at"] <= recent.end]
    charts = make_charts(settings, recent, out, made_on=now.date(), alerts=opened, scope="last 12 weeks")
    trend_png = out / "trend.png"
    report = replace(report, charts={"trend_png": trend_png.name, "trend_data_uri": data_uri(trend_png)})
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
        f"level 3 or 4. Sources covered: {len(result.sources)} ({', '.join(result.sources[:8])}"
        f"{', ...' if len(result.sources) > 8 else ''}). Documents not scored: {reasons}. Direction: hostile share "
        f"against the prior week and the 4-week norm, threshold {100 * settings.report.direction_threshold:.0f} "
        "points. Regimes: PELT change points on daily mean hostility, judged against the series' long-run median "
        f"± {settings.trends.regime_k:g} robust SD of its 28-day mean. Alerts: robust z of the daily share "
        f"against a 28-day median/MAD baseline.{alerts_note}"
        + (" DATA: the bundled SYNTHETIC demo corpus; no text in it was really published." if result.synthetic else "")
    )


def status(settings: Settings, store: Store, limit: int = 10) -> dict[str, Any]:
    """Last runs, next scheduled times (from the scheduler's job store), totals."""
    import sqlalchemy as sa

    next_runs: list[dict[str, str]] = []
    with store.engine.connect() as conn:
        if sa.inspect(conn).has_table("apscheduler_jobs"):
            for job_id, ts in conn.execute(
                sa.text("SELECT id, next_run_time FROM apscheduler_jobs ORDER BY next_run_time")
            ):
                when = datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None
                next_runs.append({"id": job_id, "next_run_time": when or "paused"})
    runs = [
        {
            "id": r.id,
            "kind": r.kind,
            "status": r.status,
            "started_at": r.started_at.isoformat(timespec="seconds"),
            "finished_at": r.finished_at.isoformat(timespec="seconds") if r.finished_at else None,
            "seconds": round((r.finished_at - r.started_at).total_seconds(), 1) if r.finished_at else None,
            "counts": r.counts,
            "error": r.error,
        }
        for r in store.recent_runs(limit)
    ]
    return {
        "runs": runs,
        "next_runs": next_runs,
        "totals": {
            "documents": store.count_documents(),
            "scores": store.count_scores(),
            "open_alerts": sum(1 for a in store.list_alerts(limit=10_000) if a.resolved_at is None),
            "outbox_waiting": len(store.pending_outbox()),
        },
    }


def demo_corpus_path() -> Path:
    """The bundled synthetic demo corpus (a folder of CSV/JSONL files)."""
    return Path(str(resources.files("tracker") / "data" / "demo" / "corpus"))


@dataclass(frozen=True)
class DemoResult:
    cycle: Any
    trends: TrendsResult
    alerts: list[dict[str, object]]
    charts: list[Path]
    report: ReportFiles
    database: str
    outputs: Path


def run_demo(settings: Settings, store: Store, *, now: datetime, progress: ProgressFactory = no_progress) -> DemoResult:
    """The main job on the demo data: one `tracker run` cycle over the configured file sources (the bundled
    corpus when none are configured), then trends, an alert backtest over the whole period (the demo data are
    historical, so nothing is sent), charts, and the weekly report for a week in the October 2023 wave."""
    from tracker.config import FilesSource
    from tracker.cycle import run_once

    if not settings.sources:
        corpus = demo_corpus_path()
        settings = settings.model_copy(
            update={
                "sources": (
                    FilesSource(name="demo_statements", kind="files", path=str(corpus / "*.csv")),
                    FilesSource(name="demo_news", kind="files", path=str(corpus / "*.jsonl")),
                )
            }
        )
    cycle = run_once(settings, store, now=now, progress=progress)
    settings.outputs_dir.mkdir(parents=True, exist_ok=True)
    result = compute_trends(settings, store, by="actor")
    from tracker.alerting import backtest

    alerts = backtest(settings, store, since=result.start, until=result.end, versions=result.versions)
    opened = sorted({date.fromisoformat(a["opened_at"]) for a in alerts})
    charts = make_charts(settings, result, settings.outputs_dir / "charts", made_on=now.date(), alerts=opened)
    from tracker.reports import week_start

    week = settings.report.demo_week
    report = write_report(
        settings,
        store,
        week=week_start(week),
        out=settings.outputs_dir / "reports" / week,
        now=now,
        versions=result.versions,
    )
    return DemoResult(
        report=report,
        cycle=cycle,
        trends=result,
        alerts=alerts,
        charts=charts,
        database=store.url,
        outputs=settings.outputs_dir,
    )
