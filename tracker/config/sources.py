"""Settings for sources (files, RSS/Atom, Telegram exports) and the schedule of `tracker schedule`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from tracker.config.base import Frozen


class _SourceBase(Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    actor: str | None = None
    language: str | None = None


DocumentKind = Literal["statement", "report"]


class FilesSource(_SourceBase):
    """CSV/JSONL files matching a glob (relative to the config file). Rows may carry their own `kind`."""

    kind: Literal["files"]
    document_kind: DocumentKind | None = None  # statement (the actor speaks) | report (news); None: not set
    path: str


class RssSource(_SourceBase):
    """An RSS or Atom feed."""

    kind: Literal["rss"]
    document_kind: DocumentKind | None = "report"  # feeds carry news about events and actors
    url: str = Field(pattern=r"^https?://")
    timeout: float = Field(20.0, gt=0)  # seconds for the whole fetch: connecting, waiting and reading
    max_mb: float = Field(20.0, gt=0)  # the body once decompressed; a bigger feed fails (a gzip bomb, a dump)


class TelegramSource(_SourceBase):
    """A Telegram Desktop JSON export: result.json or the folder holding it."""

    kind: Literal["telegram"]
    path: str
    document_kind: DocumentKind | None = "statement"  # a faction's channel speaks for it
    forwarded_kind: DocumentKind | None = "report"  # a forwarded post is someone else's words, quoted


SourceSettings = Annotated[FilesSource | RssSource | TelegramSource, Field(discriminator="kind")]


MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {m: i for i, m in enumerate(MONTHS, 1)}),
    ("day-of-week", 0, 7, {d: i for i, d in enumerate(WEEKDAYS)}),
)


def cron_problem(expression: str) -> str | None:
    """What is wrong with a 5-field crontab expression (None when it is valid): *, */n, a, a-b, a-b/n, lists,
    and month/day names, each value inside its field's range."""
    fields = expression.split()
    if len(fields) != 5:
        return "cron must have 5 fields: minute hour day month day-of-week"
    for text, (name, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in text.lower().split(","):
            base, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return f"cron {name} field {text!r}: the step after / must be a positive number"
            if base == "*":
                continue
            for value in base.split("-", 1):
                number = names.get(value, int(value) if value.isdigit() else None)
                if number is None:
                    return f"cron {name} field {text!r}: {value!r} is not a number or name"
                if not low <= number <= high:
                    return f"cron {name} field {text!r}: {number} is outside {low}-{high}"
    return None


class JobSettings(Frozen):
    """When a job runs: a cron expression (UTC) or a fixed interval in seconds, exactly one of them."""

    cron: str | None = None
    interval_seconds: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> JobSettings:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give either cron (e.g. '0 6 * * mon') or interval_seconds, not both")
        problem = cron_problem(self.cron) if self.cron is not None else None
        if problem:
            raise ValueError(problem)
        return self


class ScheduleSettings(Frozen):
    """`tracker schedule`: a cycle every hour and the weekly report on Monday 06:00 UTC by default."""

    cycle: JobSettings = JobSettings(interval_seconds=3600)
    report: JobSettings = JobSettings(cron="0 6 * * mon")
    misfire_grace_seconds: int = Field(900, ge=1)
