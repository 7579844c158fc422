"""PURE: what `tracker export` writes for each stored document: its fields, its score by the model version asked
for, its targets and kind, in a fixed column order; and the rule that keeps a CSV cell from being read as a
spreadsheet formula."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tracker.models import LEVEL_NAMES
from tracker.scoring.evaluation import predicted_targets

FORMATS = ("csv", "parquet", "jsonl")
COLUMNS = (
    "id",
    "source",
    "external_id",
    "published_at",
    "fetched_at",
    "date_estimated",
    "actor",
    "language",
    "kind",
    "forwarded_from",
    "story_id",
    "story_first",
    "url",
    "text",
    "model_version",
    "level",
    "level_name",
    "hostility",
    "p0",
    "p1",
    "p2",
    "p3",
    "p4",
    "targets",
    "target_probabilities",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may read as the start of a formula


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else str(value)


def export_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One document (joined with its score when it has one) as the exported record: times in ISO 8601 UTC,
    the level's name, the targets at probability 0.5 or more joined by ";" and every target's probability as
    JSON. Unscored documents have empty score fields."""
    probabilities = json.loads(row["targets"]) if row.get("targets") else {}
    level = row.get("level")
    out = {c: row.get(c) for c in COLUMNS}
    out.update(
        published_at=_iso(row["published_at"]),
        fetched_at=_iso(row["fetched_at"]),
        date_estimated=bool(row.get("date_estimated")),
        story_id=row.get("story_id") or row.get("id"),  # not yet grouped: its own story
        story_first=row.get("story_first") is not False and row.get("story_first") != 0,
        level=None if level is None else int(level),
        level_name=None if level is None else LEVEL_NAMES[int(level)],
        hostility=None if row.get("hostility") is None else float(row["hostility"]),
        targets=";".join(predicted_targets(tuple(probabilities.items()))) if level is not None else None,
        target_probabilities=json.dumps(probabilities, sort_keys=True) if probabilities else None,
    )
    return out


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (it starts with = + - @, a tab or a carriage
    return) gets a leading apostrophe, as OWASP advises; other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
