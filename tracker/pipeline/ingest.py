"""Stage `ingest`: raw rows from files, feeds and exports into stored documents.

One loop (`store_rows`) serves every input: each row is parsed by the pure `parse_row` with the configured
options, bad rows are named (file:line, or source and entry) and skipped, good rows are stored in batches, each
batch committed on its own so a failure later keeps what was already stored."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from tracker.config import Settings
from tracker.errors import SourceError
from tracker.formatting import day_start
from tracker.models import Document, IngestSummary, RowError
from tracker.pipeline.common import Clock, recorded_run
from tracker.pipeline.stories import StorySettings, group_stories
from tracker.progress import ProgressFactory, no_progress
from tracker.sources.files import list_files, read_rows
from tracker.sources.rows import RawItem, RowOptions, parse_row
from tracker.sources.telegram import parse_export, read_export
from tracker.storage import Store

MAX_KEPT_ERRORS = 1000

OnError = Callable[[RowError], None]


def row_options(
    settings: Settings,
    source: str | None = None,
    *,
    actor: str | None = None,
    language: str | None = None,
    kind: str | None = None,
    forwarded_kind: str | None = None,
    columns: bool = True,
    now: datetime | None = None,
) -> RowOptions:
    """How rows become documents, from `ingest.*` (timezone, date formats, text limit, the dates accepted and,
    for files, the column names) and a source's defaults. `now` sets the latest date accepted."""
    ing = settings.ingest
    return RowOptions(
        earliest=day_start(ing.earliest),
        latest=now + timedelta(days=ing.latest_days_ahead) if now is not None else None,
        timezone=ing.timezone,
        date_formats=ing.date_formats,
        max_text_chars=ing.max_text_chars,
        columns=dict(ing.columns) if columns else {},
        source=source,
        actor=actor,
        language=language,
        kind=kind,
        forwarded_kind=forwarded_kind,
    )


def reject(summary: IngestSummary, err: RowError, on_error: OnError | None) -> None:
    """Count a rejected row, keep the first MAX_KEPT_ERRORS, and tell the caller."""
    summary.rejected += 1
    if len(summary.errors) < MAX_KEPT_ERRORS:
        summary.errors.append(err)
    if on_error is not None:
        on_error(err)


def store_rows(
    store: Store,
    items: Iterable[RawItem],
    *,
    where: str,
    options: RowOptions,
    now: datetime,
    summary: IngestSummary,
    batch_size: int = 1000,
    on_error: OnError | None = None,
) -> None:
    """Parse and store rows: `(line, row)` pairs, RowErrors for rows that could not be read, None for rows
    skipped on purpose (a service message). Adds to `summary`."""
    batch: list[Document] = []
    try:
        for item in items:
            if item is None:
                continue
            if isinstance(item, RowError):
                reject(summary, item, on_error)
                continue
            line, raw = item
            parsed = parse_row(raw, path=where, line=line, options=options, fetched_at=now)
            if isinstance(parsed, RowError):
                reject(summary, parsed, on_error)
                continue
            summary.read += 1
            batch.append(parsed)
            if len(batch) >= batch_size:
                _flush(store, batch, summary)
    except SourceError:  # the input broke off: keep what was read before it, then say so
        _flush(store, batch, summary)
        raise
    if batch:
        _flush(store, batch, summary)


def _flush(store: Store, batch: list[Document], summary: IngestSummary) -> None:
    added = store.save_documents(batch)
    summary.added += added
    summary.duplicates += len(batch) - added
    batch.clear()


def ingest_paths(
    store: Store,
    paths: Iterable[str | Path],
    options: RowOptions,
    *,
    now: datetime,
    batch_size: int = 1000,
    progress: ProgressFactory = no_progress,
    on_error: OnError | None = None,
    clock: Clock | None = None,
    stories: StorySettings | None = None,
) -> IngestSummary:
    """Read CSV/JSONL files or folders into the store in batches; bad rows are reported and skipped. With
    `stories`, the new documents are then grouped into stories (scoring groups them otherwise)."""
    summary = IngestSummary()
    files, problems = list_files([Path(p) for p in paths])
    with recorded_run(store, "ingest", now, clock) as run:
        run.counts = summary.as_counts
        for problem in problems:
            reject(summary, problem, on_error)
        for path in files:
            summary.files += 1
            file_options = options if options.source else replace(options, source=path.stem)
            bar = progress(f"ingest {path.name}", path.stat().st_size, "B")
            try:
                if path.suffix.lower() == ".json":  # a Telegram Desktop export (result.json): canonical keys
                    rows: Iterable[RawItem] = parse_export(
                        read_export(path), str(path), source_from_chat=options.source is None
                    )
                    file_options = replace(file_options, columns={})
                else:
                    rows = read_rows(
                        path, columns=dict(options.columns), max_cell_chars=options.max_text_chars, progress=bar.update
                    )
                store_rows(
                    store,
                    rows,
                    where=str(path),
                    options=file_options,
                    now=now,
                    summary=summary,
                    batch_size=batch_size,
                    on_error=on_error,
                )
            except SourceError as exc:  # this file is rejected with its reason; the next files go on
                reject(summary, RowError(str(path), 0, str(exc).removeprefix(f"{path}: ")), on_error)
            finally:
                bar.close()
        if not summary.read:
            run.status, run.error = "failed", "no rows could be read"
        if stories is not None:
            summary.copies = group_stories(store, stories, progress=progress).copies
    return summary
