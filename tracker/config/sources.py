"""Settings for sources (files, RSS/Atom, Telegram exports) and the schedule of `tracker schedule`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from tracker.config.base import Frozen


class _SourceBase(Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    actor: str | None = None
    language: str | None = None


class FilesSource(_SourceBase):
    """CSV/JSONL files matching a glob (relative to the config file)."""

    kind: Literal["files"]
    path: str


class RssSource(_SourceBase):
    """An RSS or Atom feed."""

    kind: Literal["rss"]
    url: str = Field(pattern=r"^https?://")
    timeout: float = Field(20.0, gt=0)


class TelegramSource(_SourceBase):
    """A Telegram Desktop JSON export: result.json or the folder holding it."""

    kind: Literal["telegram"]
    path: str


SourceSettings = Annotated[FilesSource | RssSource | TelegramSource, Field(discriminator="kind")]


class JobSettings(Frozen):
    """When a job runs: a cron expression (UTC) or a fixed interval in seconds, exactly one of them."""

    cron: str | None = None
    interval_seconds: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> JobSettings:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give either cron (e.g. '0 6 * * mon') or interval_seconds, not both")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError("cron must have 5 fields: minute hour day month day-of-week")
        return self


class ScheduleSettings(Frozen):
    """`tracker schedule`: a cycle every hour and the weekly report on Monday 06:00 UTC by default."""

    cycle: JobSettings = JobSettings(interval_seconds=3600)
    report: JobSettings = JobSettings(cron="0 6 * * mon")
    misfire_grace_seconds: int = Field(900, ge=1)
