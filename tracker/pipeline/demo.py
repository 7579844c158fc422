"""Stage `demo`: the main job on the bundled synthetic corpus, from ingest to the weekly report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from tracker.config import FilesSource, Settings
from tracker.pipeline.alerts import backtest
from tracker.pipeline.common import Clock
from tracker.pipeline.ingest import OnError
from tracker.pipeline.report import ReportFiles, write_report
from tracker.pipeline.run import CycleResult, run_once
from tracker.pipeline.trends import compute_trends, make_charts, make_target_charts
from tracker.progress import ProgressFactory, no_progress
from tracker.regime_alerts import RULE as REGIME_RULE
from tracker.reports import week_start
from tracker.storage import Store
from tracker.trends import TrendsResult


def demo_corpus_path() -> Path:
    """The bundled synthetic demo corpus (a folder of CSV/JSONL files)."""
    return Path(str(resources.files("tracker") / "data" / "demo" / "corpus"))


@dataclass(frozen=True)
class DemoResult:
    cycle: CycleResult
    trends: TrendsResult
    alerts: list[dict[str, Any]]
    charts: list[Path]
    report: ReportFiles
    database: str
    outputs: Path


def run_demo(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    progress: ProgressFactory = no_progress,
    on_error: OnError | None = None,
    clock: Clock | None = None,
) -> DemoResult:
    """The main job on the demo data: one `tracker run` cycle over the configured file sources (the bundled
    corpus when none are configured), then trends, an alert backtest over the whole period (the demo data are
    historical, so nothing is sent), charts, and the weekly report for a week in the October 2023 wave."""
    if not settings.sources:
        corpus = demo_corpus_path()
        settings = settings.model_copy(
            update={
                "sources": (
                    FilesSource(
                        name="demo_statements", kind="files", path=str(corpus / "*.csv"), document_kind="statement"
                    ),
                    FilesSource(name="demo_news", kind="files", path=str(corpus / "*.jsonl"), document_kind="report"),
                )
            }
        )
    # rescore: a demo database kept from an earlier model version is scored again with the configured one
    # (nothing more to do, and no model loaded, when every document already has a current score)
    cycle = run_once(settings, store, now=now, progress=progress, on_error=on_error, clock=clock, rescore=True)
    settings.outputs_dir.mkdir(parents=True, exist_ok=True)
    result = compute_trends(settings, store, by="actor")
    alerts = backtest(settings, store, since=result.start, until=result.end, versions=result.versions)
    opened = sorted({date.fromisoformat(a["opened_at"]) for a in alerts if a["rule"] != REGIME_RULE})
    charts = make_charts(settings, result, settings.outputs_dir / "charts", made_on=now.date(), alerts=opened)
    toward = compute_trends(settings, store, by="target", versions=result.versions)
    charts += make_target_charts(settings, toward, settings.outputs_dir / "charts", made_on=now.date())
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
