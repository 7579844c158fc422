"""Plain values passed between the core, the adapters and the shells. No I/O here."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

LEVEL_NAMES: tuple[str, ...] = ("cooperative", "neutral", "critical", "threatening", "violent")


def text_hash(text: str) -> str:
    """Hash of the text alone: identical texts (reposts) share it, so they are scored once."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def document_id(source: str, external_id: str | None, text: str, published_at: datetime) -> str:
    """Stable identity: (source, id) when the input gives an id, else (source, text, published_at)."""
    if external_id:
        key = f"id\x1f{source}\x1f{external_id}"
    else:
        key = f"content\x1f{source}\x1f{text}\x1f{published_at.isoformat()}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Document:
    """One text from one source, with its time in UTC."""

    id: str
    source: str
    text: str
    text_hash: str
    published_at: datetime
    fetched_at: datetime
    external_id: str | None = None
    actor: str | None = None
    language: str | None = None
    url: str | None = None
    date_estimated: bool = False  # the source gave no time: published_at is when it was fetched
    forwarded_from: str | None = None  # a forwarded post: whose words these are
    kind: str | None = None  # statement (the actor speaks) | report (news about events and actors); None: not set


@dataclass(frozen=True, slots=True)
class Score:
    """A model's verdict on one document: level 0-4, hostility in [0, 1], per-level probabilities."""

    document_id: str
    model_version: str
    level: int
    hostility: float
    probabilities: tuple[float, float, float, float, float]
    scored_at: datetime
    targets: tuple[tuple[str, float], ...] = ()  # (code, probability) from the model's target head; () if none


@dataclass(frozen=True, slots=True)
class RowError:
    """An input row that was rejected, with where it was and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(slots=True)
class IngestSummary:
    """What one ingest did: rows read, documents added, duplicates skipped, rows rejected."""

    files: int = 0
    read: int = 0
    added: int = 0
    duplicates: int = 0
    rejected: int = 0
    copies: int = 0  # added documents that repeat an earlier story (forwards, reposts, edited copies)
    errors: list[RowError] = field(default_factory=list)

    def as_counts(self) -> dict[str, int]:
        return {
            "files": self.files,
            "read": self.read,
            "added": self.added,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "copies": self.copies,
        }


@dataclass(frozen=True, slots=True)
class Run:
    """A record of one job: when it ran, what it counted, how it ended."""

    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    counts: dict[str, Any]
    error: str | None


@dataclass(frozen=True, slots=True)
class Regime:
    """A stretch of days with one level of hostility: calm, normal or escalation (against the long run)."""

    start: date
    end: date  # inclusive
    kind: str
    mean_hostility: float
    documents: int

    @property
    def absolute(self) -> str:
        """The absolute reading, from the mean level alone ("mostly threatening"): `kind` is relative to the
        series' own long run, so a quieter stretch of an all-hostile channel can be "calm" and still this."""
        if self.mean_hostility != self.mean_hostility:
            return "no scored documents"
        return f"mostly {LEVEL_NAMES[min(4, max(0, round(self.mean_hostility * 4)))]}"

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kind": self.kind,
            "absolute": self.absolute,
            "mean_hostility": round(self.mean_hostility, 4),
            "documents": self.documents,
        }


@dataclass(frozen=True, slots=True)
class Event:
    """A dated event to annotate on charts."""

    day: date
    label: str


# The target codes of the labeled data (tracker/data/LABELING.md), as a report names them.
TARGET_NAMES = {
    "US": "the United States",
    "ISR": "Israel",
    "IQG": "the Iraqi government",
    "TUR": "Turkey",
    "KRG": "the Kurdistan Region",
    "GULF": "the Gulf states",
    "IRN": "Iran",
    "UK": "the United Kingdom",
    "FAC": "Iraqi factions and the PMF",
    "OTHER": "others",
    "NONE": "no one",
}
