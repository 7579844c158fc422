"""Stage `export`: every stored document in a period (and scope) with its score, targets and kind, streamed to
CSV, Parquet or JSON Lines for the analyst's own tools."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tracker.config import Settings
from tracker.errors import TrackerError
from tracker.explanations import Explanation, explain
from tracker.export_writers import open_writer
from tracker.exports import FORMATS, export_row
from tracker.formatting import day_bounds
from tracker.pipeline.score import current_versions
from tracker.progress import ProgressFactory, no_progress
from tracker.storage import Store

SCOPES = ("actor", "source", "language", "kind", "target")


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    scored: int
    versions: tuple[str, ...]


def parse_scope(scope: str | None) -> tuple[str, str] | None:
    """ "actor:NAME", "source:NAME", "language:CODE", "kind:statement|report" or "target:CODE" (None: all)."""
    if scope is None or scope == "overall":
        return None
    kind, sep, key = scope.partition(":")
    if not sep or kind not in SCOPES or not key:
        raise TrackerError(f"scope {scope!r}: use overall or one of {', '.join(s + ':NAME' for s in SCOPES)}")
    return kind, key


def export_documents(
    settings: Settings,
    store: Store,
    *,
    out: Path,
    fmt: str | None = None,
    since: date | None = None,
    until: date | None = None,
    scope: str | None = None,
    versions: Sequence[str] | None = None,
    progress: ProgressFactory = no_progress,
) -> ExportSummary:
    """Write the documents published from `since` to `until` (whole UTC days, inclusive) to `out`, in `fmt`
    (default: from the file's suffix), chunk by chunk. Each carries its score by the configured model versions
    (empty when unscored) and the version itself."""
    fmt = fmt or out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise TrackerError(f"cannot tell the format of {out.name}: give --format csv, parquet or jsonl")
    where = parse_scope(scope)
    versions = list(versions) if versions is not None else current_versions(settings, store)
    lo, hi = day_bounds(since, until)
    total = store.count_documents(since=lo, until=hi)
    rows = scored = 0
    bar = progress(f"export {out.name}", total, "docs")
    try:
        with closing(open_writer(fmt, out)) as writer:
            for chunk in store.iter_export_rows(versions, since=lo, until=hi, scope=where):
                records = [export_row(r) for r in chunk]
                writer.write(records)
                rows += len(records)
                scored += sum(1 for r in records if r["level"] is not None)
                bar.update(len(chunk))
    finally:
        bar.close()
    return ExportSummary(out, rows, scored, tuple(versions))


def explain_period(
    settings: Settings,
    store: Store,
    *,
    start: date,
    end: date,
    scope: str | None = None,
    versions: Sequence[str] | None = None,
    limit: int = 5,
) -> Explanation:
    """The statements behind the move in a period (whole UTC days, inclusive) and scope, against the week
    before it."""
    where = parse_scope(scope)
    versions = list(versions) if versions is not None else current_versions(settings, store)

    def rows(first: date, last: date) -> list[dict[str, Any]]:
        lo, hi = day_bounds(first, last)
        return [r for chunk in store.iter_export_rows(versions, since=lo, until=hi, scope=where) for r in chunk]

    now = rows(start, end)
    if not now:
        raise TrackerError(f"no documents from {start} to {end}" + (f" in {scope}" if scope else ""))
    before = rows(start - timedelta(days=7), start - timedelta(days=1))
    return explain(now, before, start=start, end=end, scope=scope or "overall", limit=limit)
