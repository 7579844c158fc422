"""The events file (CSV: date,label) annotated on charts."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from tracker.errors import SourceError
from tracker.models import Event


def load_events(path: Path | None) -> list[Event]:
    """Events sorted by date; a bad line names the file and line."""
    if path is None:
        return []
    if not path.is_file():
        raise SourceError(f"events file {path} not found; fix events_file in config.yaml or remove it")
    events = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"date", "label"} <= set(reader.fieldnames or []):
            raise SourceError(f"{path}: needs the columns date,label")
        for row in reader:
            try:
                day = date.fromisoformat((row["date"] or "").strip())
            except ValueError:
                raise SourceError(f"{path}:{reader.line_num}: date must be YYYY-MM-DD, got {row['date']!r}") from None
            label = (row["label"] or "").strip()
            if not label:
                raise SourceError(f"{path}:{reader.line_num}: empty label")
            events.append(Event(day, label))
    return sorted(events, key=lambda e: e.day)
