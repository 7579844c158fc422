"""The store's side of alerts: alert state, alerts, outbox, silences, statements for messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker.alerts import Alert, ScopeState
from tracker.errors import StorageError
from tracker.scoring.evaluation import predicted_targets
from tracker.storage.aggregates import stored_targets
from tracker.storage.schema import (
    alert_state,
    alerts_t,
    documents,
    outbox,
    scores,
    silences,
)

log = logging.getLogger(__name__)


class AlertQueries:
    """The store's side of alerts, mixed into Store."""

    engine: Engine

    def _begin(self) -> Any:  # provided by Store
        raise NotImplementedError

    def load_alert_states(self) -> dict[str, Any]:
        """Every (rule, scope) state by fingerprint, with its firing alert if any."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alert_state)).mappings().all()
            firing = {
                r["id"]: _alert_from(r)
                for r in conn.execute(sa.select(alerts_t).where(alerts_t.c.resolved_at.is_(None))).mappings()
            }
        return {
            r["fingerprint"]: ScopeState(
                fingerprint=r["fingerprint"],
                rule=r["rule"],
                scope=r["scope"],
                pending=r["pending"],
                calm_windows=r["calm_windows"],
                cooldown_until=r["cooldown_until"],
                last_evaluated=r["last_evaluated"],
                alert=firing.get(r["alert_id"]),
            )
            for r in rows
        }

    def save_decision(
        self,
        state: Any,
        actions: Sequence[Any],
        payloads: Sequence[str | None],
        channels: Sequence[str],
        now: datetime,
    ) -> list[int]:
        """In one transaction: the alert rows the actions touch, the scope's state, and one outbox row per
        action with a payload and channel (keyed, so the same message is never queued twice). "open" and
        "baseline" insert an alert row; the other kinds update theirs. Returns the alert ids."""
        ids: list[int] = []
        with self._begin() as conn:
            alert_id = None
            for action, payload in zip(actions, payloads, strict=True):
                alert = action.alert
                values = {
                    "fingerprint": alert.fingerprint,
                    "rule": alert.rule,
                    "scope": alert.scope,
                    "opened_at": alert.opened_at,
                    "resolved_at": alert.resolved_at,
                    "severity": alert.severity,
                    "peak_share": float(alert.peak_share),
                    "peak_z": float(alert.peak_z),
                    "baseline_share": float(alert.baseline_share),
                    "documents": int(alert.documents),
                    "last_notified": alert.last_notified,
                }
                if action.kind in ("open", "baseline"):
                    alert_id = int(conn.execute(alerts_t.insert().values(**values)).inserted_primary_key[0])
                else:
                    alert_id = alert.id
                    if alert_id is None:
                        raise StorageError("internal error: an alert to update has no id")
                    conn.execute(alerts_t.update().where(alerts_t.c.id == alert_id).values(**values))
                ids.append(alert_id)
                for channel in channels if payload is not None else ():
                    key = f"{alert_id}:{action.kind}:{action.evaluation.day.isoformat()}:{channel}"
                    conn.execute(
                        self._insert_ignore(outbox),  # type: ignore[attr-defined]
                        [
                            {
                                "key": key,
                                "alert_id": alert_id,
                                "kind": action.kind,
                                "channel": channel,
                                "payload": payload,
                                "created_at": now,
                                "attempts": 0,
                            }
                        ],
                    )
            current = state.alert.id if state.alert is not None and state.alert.id is not None else None
            if state.alert is not None and current is None:
                current = alert_id
            row = {
                "fingerprint": state.fingerprint,
                "rule": state.rule,
                "scope": state.scope,
                "pending": state.pending,
                "calm_windows": state.calm_windows,
                "cooldown_until": state.cooldown_until,
                "last_evaluated": state.last_evaluated,
                "alert_id": current,
            }
            updated = conn.execute(
                alert_state.update().where(alert_state.c.fingerprint == state.fingerprint).values(**row)
            ).rowcount
            if not updated:
                conn.execute(alert_state.insert().values(**row))
        return ids

    def get_alert(self, alert_id: int) -> Any:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(alerts_t).where(alerts_t.c.id == alert_id)).mappings().first()
        return _alert_from(row) if row else None

    def list_alerts(self, *, since: date | None = None, limit: int = 50) -> list[Any]:
        """Open alerts, and alerts opened or resolved since `since`, newest first."""
        query = sa.select(alerts_t).order_by(alerts_t.c.opened_at.desc(), alerts_t.c.id.desc()).limit(limit)
        if since is not None:
            query = query.where(
                sa.or_(alerts_t.c.resolved_at.is_(None), alerts_t.c.opened_at >= since, alerts_t.c.resolved_at >= since)
            )
        with self.engine.connect() as conn:
            return [_alert_from(r) for r in conn.execute(query).mappings()]

    def pending_outbox(self) -> list[dict[str, Any]]:
        query = sa.select(outbox).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        with self._begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == outbox_id, outbox.c.sent_at.is_(None))
                .values(sent_at=now, attempts=outbox.c.attempts + 1, last_error=None)
            )

    def mark_failed(self, outbox_id: int, error: str) -> None:
        with self._begin() as conn:
            conn.execute(
                outbox.update().where(outbox.c.id == outbox_id).values(attempts=outbox.c.attempts + 1, last_error=error)
            )

    def add_silence(self, scope: str, until: date, reason: str, now: datetime) -> int:
        with self._begin() as conn:
            result = conn.execute(silences.insert().values(scope=scope, until=until, reason=reason, created_at=now))
            return int(result.inserted_primary_key[0])

    def active_silences(self, day: date) -> list[dict[str, Any]]:
        query = sa.select(silences).where(silences.c.until >= day).order_by(silences.c.until)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def top_documents(
        self, versions: Sequence[str], since: datetime, until: datetime, by: str | None, key: str | None, limit: int = 3
    ) -> list[dict[str, Any]]:
        """The most hostile documents in a window (for alert messages and the report), highest score first, one
        per story (its first seen copy in the window), each with `copies` and `copy_sources`: how many documents
        its story has and from how many sources."""
        query = (
            sa.select(
                documents.c.id,
                documents.c.story_id,
                documents.c.text,
                documents.c.source,
                documents.c.published_at,
                documents.c.actor,
                scores.c.hostility,
                scores.c.level,
                scores.c.targets,
            )
            .join(scores, scores.c.document_id == documents.c.id)
            .where(
                scores.c.model_version.in_(list(versions) or [""]),
                documents.c.published_at >= since,
                documents.c.published_at < until,
            )
            .order_by(scores.c.hostility.desc(), documents.c.published_at)
        )
        code = key if by == "target" else None  # targets are JSON on the score: filtered here, in pages
        if by and by != "target" and key is not None:
            column = documents.c[by]
            query = query.where(column.is_(None) if key == "(not named)" else column == key)
        top = self._top_stories(query, code, limit)
        copies = self.story_copies([r["id"] for r in top])  # type: ignore[attr-defined]
        for r in top:
            r["copies"], r["copy_sources"] = copies.get(r["id"], (1, 1))
        return top

    def _top_stories(self, query: Any, code: str | None, limit: int, page: int = 500) -> list[dict[str, Any]]:
        """The first `limit` rows of `query`, one per story, counting toward target `code` when given."""
        out: dict[str, dict[str, Any]] = {}
        offset = 0
        with self.engine.connect() as conn:
            while len(out) < limit:
                rows = [dict(r) for r in conn.execute(query.limit(page).offset(offset)).mappings()]
                for r in rows:
                    if code is None or code in predicted_targets(stored_targets(r["targets"])):
                        out.setdefault(r["story_id"] or r["id"], r)
                if len(rows) < page:
                    break
                offset += page
        return list(out.values())[:limit]


def _alert_from(r: Any) -> Any:
    return Alert(
        id=r["id"],
        fingerprint=r["fingerprint"],
        rule=r["rule"],
        scope=r["scope"],
        opened_at=r["opened_at"],
        resolved_at=r["resolved_at"],
        severity=r["severity"],
        peak_share=r["peak_share"],
        peak_z=r["peak_z"],
        baseline_share=r["baseline_share"],
        documents=r["documents"],
        last_notified=r["last_notified"],
    )
