"""The store's side of unattended runs: named locks and per-source fetch state."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker.storage.schema import (
    locks,
    source_state,
)

log = logging.getLogger(__name__)


class RunQueries:
    """Locks and per-source state, mixed into Store."""

    engine: Engine

    def _begin(self) -> Any:  # provided by Store
        raise NotImplementedError

    def acquire_lock(self, name: str, holder: str, now: datetime, ttl: timedelta) -> str | None:
        """Take the named lock; returns None, or who holds it. An expired lock is taken over. Works across
        machines that share a PostgreSQL store (the primary key decides)."""
        with self._begin() as conn:
            row = conn.execute(sa.select(locks).where(locks.c.name == name)).mappings().first()
            if row is not None and row["expires_at"] > now:
                return f"{row['holder']} since {row['acquired_at']:%Y-%m-%d %H:%M:%S} UTC"
            if row is not None:
                conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == row["holder"]))
            try:
                with conn.begin_nested():
                    conn.execute(locks.insert().values(name=name, holder=holder, acquired_at=now, expires_at=now + ttl))
            except sa.exc.IntegrityError:
                return "another process (it took the lock a moment ago)"
        return None

    def refresh_lock(self, name: str, holder: str, now: datetime, ttl: timedelta) -> None:
        with self._begin() as conn:
            conn.execute(
                locks.update().where(locks.c.name == name, locks.c.holder == holder).values(expires_at=now + ttl)
            )

    def lock_holder(self, name: str) -> dict[str, Any] | None:
        """Who holds the named lock (holder, acquired_at, expires_at), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(locks).where(locks.c.name == name)).mappings().first()
        return dict(row) if row else None

    def list_locks(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(locks).order_by(locks.c.name)).mappings()]

    def break_lock(self, name: str, holder: str) -> bool:
        """Remove a lock its holder can no longer release (the process is gone); True when it was removed."""
        with self._begin() as conn:
            return bool(conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder)).rowcount)

    def release_lock(self, name: str, holder: str) -> None:
        with self._begin() as conn:
            conn.execute(locks.delete().where(locks.c.name == name, locks.c.holder == holder))

    def source_states(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as conn:
            return {r["name"]: dict(r) for r in conn.execute(sa.select(source_state)).mappings()}

    def save_source_state(self, name: str, now: datetime, **values: Any) -> None:
        row = {"name": name, "updated_at": now, **values}
        with self._begin() as conn:
            updated = conn.execute(source_state.update().where(source_state.c.name == name).values(**row)).rowcount
            if not updated:
                conn.execute(source_state.insert().values(**row))

    def scheduled_jobs(self) -> list[tuple[str, float | None]]:
        """(job id, next run as a UNIX time or None when paused) from APScheduler's job table, if there is one."""
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("apscheduler_jobs"):
                return []
            rows = conn.execute(sa.text("SELECT id, next_run_time FROM apscheduler_jobs ORDER BY next_run_time"))
            return [(str(job_id), ts) for job_id, ts in rows]
