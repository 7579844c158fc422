"""PURE: turn one raw input row (a mapping of column -> value) into a Document or a RowError."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tracker.models import Document, RowError, document_id, text_hash

RawItem = tuple[int, Mapping[str, Any]] | RowError | None
"""What a reader yields: (line or entry number, row), a row it could not read, or None for one skipped on purpose."""

KINDS = ("statement", "report")  # the actor speaks | news about events and actors
ISO_HINT = "use ISO 8601 such as 2023-10-17T08:30:00+03:00, or list the format in ingest.date_formats"


@dataclass(frozen=True)
class RowOptions:
    """How rows map to documents: column names, the timezone of naive times, limits."""

    timezone: str = "UTC"
    date_formats: tuple[str, ...] = ()
    max_text_chars: int = 1_000_000
    columns: Mapping[str, str] = field(default_factory=dict)
    source: str | None = None  # for rows with no source of their own
    actor: str | None = None
    language: str | None = None
    kind: str | None = None  # statement | report, for rows with no `kind` of their own
    forwarded_kind: str | None = None  # the kind of a forwarded post (a channel quoting someone else)
    earliest: datetime | None = None  # dates outside [earliest, latest] are rejected (a typo'd year, epoch 0)
    latest: datetime | None = None

    def column(self, name: str) -> str:
        return self.columns.get(name, name)


class TimestampError(ValueError):
    pass


def parse_timestamp(value: Any, timezone: str = "UTC", formats: tuple[str, ...] = ()) -> datetime:
    """A UTC datetime from ISO 8601, epoch seconds or a listed format; naive values are read in `timezone`."""
    if isinstance(value, bool) or value is None:
        raise TimestampError("empty")
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    text = str(value).strip()
    if not text:
        raise TimestampError("empty")
    parsed: datetime | None = None
    if text.replace(".", "", 1).isdigit() and len(text) >= 9:
        return _from_epoch(float(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in formats:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise TimestampError(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return parsed.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise TimestampError(str(seconds)) from None


def _has_bad_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _text_field(raw: Mapping[str, Any], column: str) -> str | None:
    value = raw.get(column)
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    return value or None


def parse_row(
    raw: Mapping[str, Any], *, path: str, line: int, options: RowOptions, fetched_at: datetime
) -> Document | RowError:
    """Validate one row; the error says which column is wrong and what to do."""

    def bad(reason: str) -> RowError:
        return RowError(path=path, line=line, reason=reason)

    for key, value in raw.items():
        if isinstance(value, str) and _has_bad_utf8(value):
            return bad(f"invalid UTF-8 in column {key!r}; re-save the file as UTF-8")
    text_col = options.column("text")
    raw_text = raw.get(text_col)
    if raw_text is not None and not isinstance(raw_text, str):
        return bad(f"column {text_col!r} must be a string, got {type(raw_text).__name__}")
    text = _text_field(raw, text_col)
    if text is None:
        return bad(f"missing text (column {text_col!r} is empty)")
    if len(text) > options.max_text_chars:
        return bad(
            f"text is {len(text):,} characters, over ingest.max_text_chars ({options.max_text_chars:,}); "
            "split the document or raise the limit"
        )
    date_col = options.column("published_at")
    date_value = raw.get(date_col)
    if date_value is None or (isinstance(date_value, str) and not date_value.strip()):
        return bad(f"missing published_at (column {date_col!r} is empty)")
    try:
        published_at = parse_timestamp(date_value, options.timezone, options.date_formats)
    except TimestampError:
        shown = str(date_value)[:60]
        return bad(f"cannot parse published_at {shown!r}; {ISO_HINT}")
    if (options.earliest is not None and published_at < options.earliest) or (
        options.latest is not None and published_at > options.latest
    ):
        low = f"{options.earliest:%Y-%m-%d}" if options.earliest else "any date"
        high = f"{options.latest:%Y-%m-%d}" if options.latest else "any date"
        return bad(
            f"published_at {published_at:%Y-%m-%d} is outside the dates accepted ({low} to {high}); fix the date, "
            "or widen ingest.earliest / ingest.latest_days_ahead"
        )
    source = _text_field(raw, options.column("source")) or options.source
    if source is None:
        return bad("no source: add a 'source' column or pass --source NAME")
    external_id = _text_field(raw, options.column("id"))
    language = _text_field(raw, options.column("language")) or options.language
    forwarded_from = _text_field(raw, "forwarded_from")
    kind = _text_field(raw, options.column("kind"))
    if kind is not None and kind.lower() not in KINDS:
        return bad(f"kind {kind[:40]!r} is not one of {', '.join(KINDS)}; fix the column or leave it empty")
    kind = kind.lower() if kind else (options.forwarded_kind if forwarded_from else None) or options.kind
    return Document(
        id=document_id(source, external_id, text, published_at),
        source=source[:200],
        text=text,
        text_hash=text_hash(text),
        published_at=published_at,
        fetched_at=fetched_at,
        external_id=external_id[:500] if external_id else None,
        actor=(_text_field(raw, options.column("actor")) or options.actor),
        language=language.lower()[:16] if language else None,
        url=_text_field(raw, options.column("url")),
        date_estimated=raw.get("date_estimated") is True,
        forwarded_from=forwarded_from,
        kind=kind,
    )
