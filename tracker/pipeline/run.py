"""Stage `run`: one unattended cycle. Fetch every source, store new documents, score what is unscored, update
alerts and deliver, write the weekly report when a new week has completed. A lock in the store lets one cycle
run at a time, across machines sharing PostgreSQL."""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from tracker.config import FilesSource, RssSource, Settings, SourceSettings, TelegramSource
from tracker.errors import SourceError, TrackerError
from tracker.models import IngestSummary
from tracker.pipeline.alerts import update_alerts
from tracker.pipeline.common import Clock, recorded_run
from tracker.pipeline.ingest import OnError, ingest_paths, row_options, store_rows
from tracker.pipeline.report import write_weekly_report_once
from tracker.pipeline.score_ray import score_with_engine
from tracker.progress import ProgressFactory, no_progress
from tracker.sources.rss import fetch_feed, parse_feed
from tracker.sources.telegram import parse_export, read_export
from tracker.storage import Store

log = logging.getLogger(__name__)
RUN_LOCK = "run"
LOCK_TTL = timedelta(hours=2)  # without a heartbeat (library callers that pass no clock)
HEARTBEAT_TTL = timedelta(minutes=5)  # with one: a holder on another machine is presumed gone after this
HEARTBEAT_EVERY = 60.0  # seconds between refreshes


def process_alive(holder: str) -> bool | None:
    """Whether the process behind a lock holder ("host:pid") still runs: True/False on this host, None for a
    holder on another machine (there only its heartbeat tells)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def take_over_if_dead(store: Store, name: str, now: datetime) -> str | None:
    """Break the lock of a holder that is gone (its process is dead on this host, or its heartbeat stopped and
    the lock expired) and mark its runs aborted. Returns the gone holder, or None when there was nothing to
    take over."""
    held = store.lock_holder(name)
    if held is None:
        return None
    if process_alive(held["holder"]) is not False and held["expires_at"] > now:
        return None
    if not store.break_lock(name, held["holder"]):
        return None
    reason = (
        f"its process {held['holder']} is gone (killed, out of memory or a reboot); the lock was taken over "
        f"at {now:%Y-%m-%d %H:%M:%S} UTC"
    )
    aborted = store.abort_runs(held["acquired_at"], now, reason)
    log.warning("%s lock: %s; %d run record(s) marked aborted", name, reason, aborted)
    return str(held["holder"])


class Heartbeat:
    """Refreshes a lock from a background thread while a long piece of work runs, so that a crash is noticed
    within HEARTBEAT_TTL instead of the fixed expiry."""

    def __init__(self, store: Store, name: str, holder: str, clock: Clock, every: float = HEARTBEAT_EVERY) -> None:
        self.store, self.name, self.holder, self.clock, self.every = store, name, holder, clock, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"{name}-lock-heartbeat", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.store.refresh_lock(self.name, self.holder, self.clock(), HEARTBEAT_TTL)
            except Exception as exc:  # a missed beat is logged; the lock expires only after several
                log.warning("lock heartbeat failed: %s", exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class SourceStatus:
    name: str
    kind: str
    status: str  # ok | not_modified | disabled | error
    read: int = 0
    added: int = 0
    rejected: int = 0
    error: str | None = None

    def count(self, summary: IngestSummary) -> None:
        self.read, self.added, self.rejected = summary.read, summary.added, summary.rejected


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

    @property
    def failures(self) -> list[str]:
        """What went wrong without stopping the cycle: failed sources and failed deliveries."""
        out = [f"source {s.name}: {s.error}" for s in self.sources if s.status == "error"]
        if self.alerts.get("failed"):
            out.append(f"{self.alerts['failed']} alert deliveries failed (kept in the outbox for the next run)")
        return out

    def counts(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "scored": self.scored,
            "sources_ok": sum(s.status in ("ok", "not_modified") for s in self.sources),
            "sources_failed": sum(s.status == "error" for s in self.sources),
            "alerts_opened": self.alerts.get("opened", 0),
            "alerts_sent": self.alerts.get("sent", 0),
            "alerts_failed": self.alerts.get("failed", 0),
            "sources": [s.__dict__ for s in self.sources],
            "report": self.report,
        }


def holder_name() -> str:
    """Who holds a lock: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def run_once(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    progress: ProgressFactory = no_progress,
    on_error: OnError | None = None,
    clock: Clock | None = None,
    rescore: bool = False,
) -> CycleResult:
    """One cycle; raises TrackerError when another live cycle holds the run lock (one whose process is gone is
    taken over and its run marked aborted). Rejected rows go to `on_error`. With a `clock` the lock is kept
    alive by a heartbeat. With `rescore`, documents scored only by an older model version are scored again."""
    holder = holder_name()
    take_over_if_dead(store, RUN_LOCK, now)
    held = store.acquire_lock(RUN_LOCK, holder, now, HEARTBEAT_TTL if clock else LOCK_TTL)
    if held is not None:
        raise TrackerError(f"another tracker run is in progress ({held}); this one stops without doing anything")
    beat = Heartbeat(store, RUN_LOCK, holder, clock) if clock else contextlib.nullcontext()
    try:
        with beat, recorded_run(store, "run", now, clock) as run:
            result = CycleResult(run.id)
            run.counts = result.counts
            for source in settings.sources:
                result.sources.append(fetch_source(settings, store, source, now, on_error=on_error, clock=clock))
            # local or on Ray, as scoring.engine says
            summary = score_with_engine(settings, store, now=now, rescore=rescore, progress=progress, clock=clock)
            result.scored = summary.scored + summary.reused
            result.model_loaded = bool(summary.texts)
            result.alerts = update_alerts(settings, store, now=now).as_counts()
            result.report = write_weekly_report_once(settings, store, now=now)
            if result.failures:
                run.status, run.error = "partial", "; ".join(result.failures)
    finally:
        store.release_lock(RUN_LOCK, holder)
    return result


def fetch_source(
    settings: Settings,
    store: Store,
    source: SourceSettings,
    now: datetime,
    *,
    on_error: OnError | None = None,
    clock: Clock | None = None,
) -> SourceStatus:
    """Fetch one source into the store; a failure is reported in the status, never raised."""
    status = SourceStatus(source.name, source.kind, "ok")
    try:
        if isinstance(source, FilesSource):
            paths = sorted(glob.glob(source.path, recursive=True))
            if not paths:
                raise SourceError(f"no files match {source.path}")
            options = row_options(settings, source.name, **source_defaults(source), now=now)
            summary = ingest_paths(
                store,
                [Path(p) for p in paths],
                options,
                now=now,
                batch_size=settings.ingest.batch_size,
                on_error=on_error,
                clock=clock,
            )
            status.count(summary)
        elif isinstance(source, RssSource):
            _fetch_rss(settings, store, source, now, status, on_error)
        elif isinstance(source, TelegramSource):
            rows = parse_export(read_export(Path(source.path)), source.path)
            _store(settings, store, rows, source, source.path, now, status, on_error)
    except SourceError as exc:
        status.status, status.error = "error", str(exc)
        log.warning("source %s: %s", source.name, exc)
    return status


class SourceDefaults(TypedDict):
    actor: str | None
    language: str | None
    kind: str | None
    forwarded_kind: str | None


def source_defaults(source: FilesSource | RssSource | TelegramSource) -> SourceDefaults:
    """What a source's rows get when they do not say: actor, language, kind (and the kind of forwarded posts)."""
    return SourceDefaults(
        **{
            "actor": source.actor,
            "language": source.language,
            "kind": source.document_kind,
            "forwarded_kind": getattr(source, "forwarded_kind", None),
        }
    )


def _store(
    settings: Settings,
    store: Store,
    rows: Any,
    source: RssSource | TelegramSource,
    where: str,
    now: datetime,
    status: SourceStatus,
    on_error: OnError | None,
) -> None:
    """Rows from a feed or an export (canonical keys, so `ingest.columns` does not apply) into the store."""
    summary = IngestSummary()
    options = row_options(settings, source.name, **source_defaults(source), columns=False, now=now)
    store_rows(
        store,
        rows,
        where=where,
        options=options,
        now=now,
        summary=summary,
        batch_size=settings.ingest.batch_size,
        on_error=on_error,
    )
    status.count(summary)


def _fetch_rss(
    settings: Settings,
    store: Store,
    source: RssSource,
    now: datetime,
    status: SourceStatus,
    on_error: OnError | None,
) -> None:
    state = store.source_states().get(source.name, {})
    if state.get("disabled_reason"):
        status.status, status.error = "disabled", state["disabled_reason"]
        return
    try:
        response = fetch_feed(
            source.url,
            etag=state.get("etag"),
            last_modified=state.get("last_modified"),
            timeout=source.timeout,
            max_bytes=int(source.max_mb * 1_000_000),
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
        rows = parse_feed(response.content, source.url, fetched_at=now)
    except SourceError as exc:
        store.save_source_state(source.name, now, last_status="error", last_error=str(exc))
        raise
    entries = ((i, r) for i, r in enumerate(rows, start=1))
    _store(settings, store, entries, source, f"{source.name} ({source.url})", now, status, on_error)
    store.save_source_state(
        source.name, now, etag=response.etag, last_modified=response.last_modified, last_status="ok", last_error=None
    )
