"""What every stage shares: opening the store, and recording a run (started, then ok, partial or failed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tracker.config import Settings
from tracker.errors import TrackerError
from tracker.storage import Store

Clock = Callable[[], datetime]
"""Reads the time when a run finishes; the shells pass the real clock, tests and library callers may not."""


def open_store(settings: Settings) -> Store:
    """Open the configured store (SQLite in the tracker home unless store.url says otherwise)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.database_url)


@dataclass
class RunRecord:
    """A run in progress: the body sets what it counted and how it ended."""

    id: int
    counts: Callable[[], dict[str, Any]] = dict
    status: str = "ok"
    error: str | None = None


@contextmanager
def recorded_run(store: Store, kind: str, now: datetime, clock: Clock | None = None) -> Iterator[RunRecord]:
    """Record a run of `kind` in the store: started at `now`, finished (at `clock()`, else `now`) with the
    status and counts the body set, or `failed` with the error when the body raises."""
    record = RunRecord(store.start_run(kind, now))
    try:
        yield record
    except BaseException as exc:
        reason = str(exc) if isinstance(exc, TrackerError) else f"{type(exc).__name__}: {exc}"
        store.finish_run(record.id, clock() if clock else now, "failed", record.counts(), reason)
        raise
    store.finish_run(record.id, clock() if clock else now, record.status, record.counts(), record.error)
