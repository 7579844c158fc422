"""One unattended cycle (`tracker run`): fetch every source, store new documents, score what is unscored,
update alerts and deliver, write the weekly report when a new week has completed. A lock in the store lets one
cycle run at a time, across machines sharing PostgreSQL."""

from __future__ import annotations

import glob
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tracker import pipeline
from tracker.config import FilesSource, RssSource, Settings, TelegramSource
from tracker.errors import SourceError, TrackerError
from tracker.models import Document, RowError
from tracker.progress import no_progress
from tracker.sources.rows import RowOptions, parse_row
from tracker.storage import Store

log = logging.getLogger(__name__)
RUN_LOCK = "run"
LOCK_TTL = timedelta(hours=2)


@dataclass
class SourceStatus:
    name: str
    kind: str
    status: str  # ok | not_modified | disabled | error
    read: int = 0
    added: int = 0
    rejected: int = 0
    error: str | None = None


@dataclass
class CycleResult:
    run_id: int
    sources: list[SourceStatus] = field(default_factory=list)
    scored: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    report: str | None = None
    model_loaded: bool = False

    @property
    def added(self) -> int:
        return sum(s.added for s in self.sources)

    def counts(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "scored": self.scored,
            "sources_ok": sum(s.status in ("ok", "not_modified") for s in self.sources),
            "sources_failed": sum(s.status == "error" for s in self.sources),
            "alerts_opened": self.alerts.get("opened", 0),
            "alerts_sent": self.alerts.get("sent", 0),
            "sources": [s.__dict__ for s in self.sources],
            "report": self.report,
        }


def holder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_once(settings: Settings, store: Store, *, now: datetime, progress: Any = None) -> CycleResult:
    holder = holder_name()
    held = store.acquire_lock(RUN_LOCK, holder, now, LOCK_TTL)
    if held is not None:
        raise TrackerError(f"another tracker run is in progress ({held}); this one stops without doing anything")
    run_id = store.start_run("run", now)
    result = CycleResult(run_id)
    try:
        for source in settings.sources:
            result.sources.append(fetch_source(settings, store, source, now))
        summary = pipeline.score(settings, store, now=now, progress=progress or no_progress)
        result.scored = summary.scored + summary.reused
        result.model_loaded = bool(summary.texts)
        from tracker.alerting import update_alerts

        alerts = update_alerts(settings, store, now=now)
        result.alerts = alerts.as_counts()
        result.report = _weekly_report(settings, store, now)
    except BaseException as exc:
        store.finish_run(run_id, datetime.now(now.tzinfo), "failed", result.counts(), f"{type(exc).__name__}: {exc}")
        raise
    finally:
        store.release_lock(RUN_LOCK, holder)
    failed = [s for s in result.sources if s.status == "error"]
    errors = "; ".join(f"{s.name}: {s.error}" for s in failed) or None
    store.finish_run(run_id, datetime.now(now.tzinfo), "partial" if failed else "ok", result.counts(), errors)
    return result


def _weekly_report(settings: Settings, store: Store, now: datetime) -> str | None:
    """Write last week's report once, when that week has documents and no report yet."""
    from tracker.reports import iso_week

    week = pipeline.last_complete_week(now.date())
    out = settings.outputs_dir / "reports" / iso_week(week)
    if (out / "report.pdf").exists():
        return None
    try:
        files = pipeline.write_report(settings, store, week=week, out=out, now=now)
    except TrackerError as exc:
        log.info("no weekly report for %s: %s", iso_week(week), exc)
        return None
    return str(files.pdf)


def _options(source: Any) -> RowOptions:
    return RowOptions(source=source.name, actor=source.actor, language=source.language)


def fetch_source(settings: Settings, store: Store, source: Any, now: datetime) -> SourceStatus:
    """Fetch one source into the store; a failure is reported in the status, never raised."""
    status = SourceStatus(source.name, source.kind, "ok")
    try:
        if isinstance(source, FilesSource):
            paths = sorted(glob.glob(source.path, recursive=True))
            if not paths:
                raise SourceError(f"no files match {source.path}")
            opts = _options(source)
            summary = pipeline.ingest_paths(
                store, [Path(p) for p in paths], opts, now=now, batch_size=settings.ingest.batch_size
            )
            status.read, status.added, status.rejected = summary.read, summary.added, summary.rejected
        elif isinstance(source, RssSource):
            _fetch_rss(store, source, now, status)
        elif isinstance(source, TelegramSource):
            from tracker.sources.telegram import parse_export, read_export

            _store_rows(store, parse_export(read_export(Path(source.path)), source.path), source, now, status)
    except SourceError as exc:
        status.status, status.error = "error", str(exc)
        log.warning("source %s: %s", source.name, exc)
    return status


def _fetch_rss(store: Store, source: RssSource, now: datetime, status: SourceStatus) -> None:
    from tracker.sources.rss import fetch_feed, parse_feed

    state = store.source_states().get(source.name, {})
    if state.get("disabled_reason"):
        status.status, status.error = "disabled", state["disabled_reason"]
        return
    try:
        response = fetch_feed(
            source.url, etag=state.get("etag"), last_modified=state.get("last_modified"), timeout=source.timeout
        )
    except SourceError as exc:
        store.save_source_state(source.name, now, last_status="error", last_error=str(exc))
        raise
    if response.status == 410:
        reason = f"the feed answered 410 Gone on {now:%Y-%m-%d}; the source is disabled (fix its url to re-enable)"
        store.save_source_state(source.name, now, disabled_reason=reason, last_status="disabled")
        log.warning("source %s: %s", source.name, reason)
        status.status, status.error = "disabled", reason
        return
    if response.status == 304:
        store.save_source_state(source.name, now, last_status="not_modified", last_error=None)
        status.status = "not_modified"
        return
    try:
        rows = parse_feed(response.content, source.url)
    except SourceError as exc:
        store.save_source_state(source.name, now, last_status="error", last_error=str(exc))
        raise
    _store_rows(store, ((i, r) for i, r in enumerate(rows, start=1)), source, now, status)
    store.save_source_state(
        source.name, now, etag=response.etag, last_modified=response.last_modified, last_status="ok", last_error=None
    )


def _store_rows(store: Store, items: Any, source: Any, now: datetime, status: SourceStatus) -> None:
    opts = _options(source)
    docs: list[Document] = []
    where = getattr(source, "url", None) or getattr(source, "path", source.name)
    for item in items:
        if item is None:
            continue
        if isinstance(item, RowError):
            status.rejected += 1
            continue
        line, raw = item
        parsed = parse_row(raw, path=where, line=line, options=opts, fetched_at=now)
        if isinstance(parsed, RowError):
            status.rejected += 1
            log.info("source %s: %s", source.name, parsed)
            continue
        docs.append(parsed)
    status.read = len(docs)
    for i in range(0, len(docs), 1000):
        status.added += store.save_documents(docs[i : i + 1000])
