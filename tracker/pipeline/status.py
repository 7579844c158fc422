"""Stage `status`: the last runs with their counts and errors, the next scheduled times, and totals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tracker.regime_alerts import RULE as REGIME_RULE
from tracker.storage import Store


def status(store: Store, limit: int = 10) -> dict[str, Any]:
    """Last runs, next scheduled times (from the scheduler's job store), totals."""
    next_runs = [
        {
            "id": job_id,
            "next_run_time": datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else "paused",
        }
        for job_id, ts in store.scheduled_jobs()
    ]
    runs = [
        {
            "id": r.id,
            "kind": r.kind,
            "status": r.status,
            "started_at": r.started_at.isoformat(timespec="seconds"),
            "finished_at": r.finished_at.isoformat(timespec="seconds") if r.finished_at else None,
            "seconds": round((r.finished_at - r.started_at).total_seconds(), 1) if r.finished_at else None,
            "counts": r.counts,
            "error": r.error,
        }
        for r in store.recent_runs(limit)
    ]
    locks = [
        {
            "name": lock["name"],
            "holder": lock["holder"],
            "since": lock["acquired_at"].isoformat(timespec="seconds"),
            "expires_at": lock["expires_at"].isoformat(timespec="seconds"),
        }
        for lock in store.list_locks()
    ]
    return {
        "runs": runs,
        "locks": locks,
        "next_runs": next_runs,
        "totals": {
            "documents": store.count_documents(),
            "scores": store.count_scores(),
            "open_alerts": sum(
                1 for a in store.list_alerts(limit=10_000) if a.resolved_at is None and a.rule != REGIME_RULE
            ),
            "outbox_waiting": len(store.pending_outbox()),
        },
    }
