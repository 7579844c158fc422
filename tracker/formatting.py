"""PURE: how numbers are written for people (reports, alert messages, command output), in one place."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def pct(x: float, missing: str = "n/a") -> str:
    """A share as a whole percentage ("42%"); NaN is `missing`."""
    return missing if x != x else f"{100 * x:.0f}%"


def points(x: float, missing: str = "n/a") -> str:
    """A change of shares in percentage points ("+12 pts")."""
    return missing if x != x else f"{100 * x:+.0f} pts"


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day` (every window in the tracker is whole UTC days)."""
    return datetime.combine(day, time.min, UTC)


def day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """[since 00:00 UTC, the day after `until` 00:00 UTC): the half-open range of days since..until inclusive."""
    return (
        day_start(since) if since is not None else None,
        day_start(until + timedelta(days=1)) if until is not None else None,
    )
