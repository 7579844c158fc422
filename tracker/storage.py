"""The store: SQLAlchemy Core over SQLite (default) or PostgreSQL (by URL).

The schema is built by numbered migrations applied when the store is opened; never edit a live schema by
hand. Times are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tracker.config import mask_url
from tracker.errors import StorageError
from tracker.models import Document, Run, Score

log = logging.getLogger(__name__)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC; naive values are refused so no local time slips in."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise StorageError("internal error: a naive datetime reached the store; convert to UTC first")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("external_id", sa.String(500)),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("text_hash", sa.String(64), nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200)),
    sa.Column("language", sa.String(16)),
    sa.Column("url", sa.Text),
    sa.Column("language_detected", sa.Boolean, nullable=False, server_default=sa.false()),
)

unscored = sa.Table(
    "unscored",
    metadata,
    sa.Column("document_id", sa.String(32), sa.ForeignKey("documents.id"), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("version", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
    sa.Column("registered_at", UTCDateTime, nullable=False),
)

alerts_t = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(16), nullable=False),
    sa.Column("rule", sa.String(60), nullable=False),
    sa.Column("scope", sa.String(300), nullable=False),
    sa.Column("opened_at", sa.Date, nullable=False),
    sa.Column("resolved_at", sa.Date),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("peak_share", sa.Float, nullable=False),
    sa.Column("peak_z", sa.Float, nullable=False),
    sa.Column("baseline_share", sa.Float, nullable=False),
    sa.Column("documents", sa.Integer, nullable=False),
    sa.Column("last_notified", sa.Date),
)

alert_state = sa.Table(
    "alert_state",
    metadata,
    sa.Column("fingerprint", sa.String(16), primary_key=True),
    sa.Column("rule", sa.String(60), nullable=False),
    sa.Column("scope", sa.String(300), nullable=False),
    sa.Column("pending", sa.Integer, nullable=False),
    sa.Column("calm_windows", sa.Integer, nullable=False),
    sa.Column("cooldown_until", sa.Date),
    sa.Column("last_evaluated", sa.Date),
    sa.Column("alert_id", sa.Integer),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(300), nullable=False),
    sa.Column("until", sa.Date, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(200), nullable=False, unique=True),
    sa.Column("alert_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text),
)

source_state = sa.Table(
    "source_state",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("last_status", sa.String(20)),
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", UTCDateTime),
)

locks = sa.Table(
    "locks",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

scores = sa.Table(
    "scores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("document_id", sa.String(32), sa.ForeignKey("documents.id"), nullable=False),
    sa.Column("model_version", sa.String(100), nullable=False),
    sa.Column("level", sa.SmallInteger, nullable=False),
    sa.Column("hostility", sa.Float, nullable=False),
    sa.Column("p0", sa.Float, nullable=False),
    sa.Column("p1", sa.Float, nullable=False),
    sa.Column("p2", sa.Float, nullable=False),
    sa.Column("p3", sa.Float, nullable=False),
    sa.Column("p4", sa.Float, nullable=False),
    sa.Column("scored_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("document_id", "model_version", name="uq_scores_document_model"),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("counts", sa.Text, nullable=False, server_default="{}"),
    sa.Column("error", sa.Text),
)

schema_migrations = sa.Table(
    "schema_migrations",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)


# --- migrations: ordered, numbered, each written against the schema as it was then -----------------------


def _m001_initial(conn: Connection) -> None:
    """Documents, scores and runs."""
    md = sa.MetaData()
    sa.Table(
        "documents",
        md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("external_id", sa.String(500)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("fetched_at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("language", sa.String(16)),
        sa.Column("url", sa.Text),
        sa.Index("ix_documents_published_at", "published_at"),
        sa.Index("ix_documents_text_hash", "text_hash"),
        sa.Index("ix_documents_source_external", "source", "external_id"),
    )
    sa.Table(
        "scores",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(32), sa.ForeignKey("documents.id"), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("hostility", sa.Float, nullable=False),
        *[sa.Column(f"p{i}", sa.Float, nullable=False) for i in range(5)],
        sa.Column("scored_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("document_id", "model_version", name="uq_scores_document_model"),
        sa.Index("ix_scores_model_version", "model_version"),
    )
    sa.Table(
        "runs",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("counts", sa.Text, nullable=False, server_default="{}"),
        sa.Column("error", sa.Text),
    )
    md.create_all(conn)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _m002_scoring(conn: Connection) -> None:
    """Detected-language flag, reasons for unscored documents, the model registry."""
    md = sa.MetaData()
    sa.Table("documents", md, sa.Column("id", sa.String(32), primary_key=True))
    conn.execute(
        sa.text(
            "ALTER TABLE documents ADD COLUMN language_detected BOOLEAN NOT NULL DEFAULT "
            + ("false" if conn.dialect.name == "postgresql" else "0")
        )
    )
    sa.Table(
        "unscored",
        md,
        sa.Column("document_id", sa.String(32), sa.ForeignKey("documents.id"), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "models",
        md,
        sa.Column("version", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("details", sa.Text, nullable=False, server_default="{}"),
        sa.Column("registered_at", UTCDateTime, nullable=False),
    )
    md.create_all(conn, tables=[md.tables["unscored"], md.tables["models"]])
    conn.execute(sa.text("CREATE INDEX ix_documents_language ON documents (language)"))
    conn.execute(sa.text("CREATE INDEX ix_scores_document ON scores (document_id)"))


def _m003_alerts(conn: Connection) -> None:
    """Alerts, per-scope alert state, silences and the delivery outbox.

    These tables are new here, so the current definitions are the ones of this migration; a later migration
    that changes them must first freeze a copy of today's definitions in this function."""
    md = sa.MetaData()
    for table in (alerts_t, alert_state, silences, outbox):
        table.to_metadata(md)
    md.create_all(conn)
    conn.execute(sa.text("CREATE INDEX ix_alerts_fingerprint ON alerts (fingerprint)"))
    conn.execute(sa.text("CREATE INDEX ix_outbox_pending ON outbox (sent_at)"))


def _m004_sources_and_locks(conn: Connection) -> None:
    """Per-source fetch state (ETag, Last-Modified, disabled) and named locks (one run, one scheduler).

    New tables: the current definitions are this migration's; freeze a copy here before changing them."""
    md = sa.MetaData()
    for table in (source_state, locks):
        table.to_metadata(md)
    md.create_all(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial: documents, scores, runs", _m001_initial),
    Migration(2, "scoring: detected languages, unscored reasons, model registry", _m002_scoring),
    Migration(3, "alerts: alerts, alert state, silences, outbox", _m003_alerts),
    Migration(4, "sources and locks: fetch state per source, named locks", _m004_sources_and_locks),
)


# --- scoring queries ----------------------------------------------------------------------------------------


def _no_score(version: str | None) -> Any:
    """Documents without a score (of `version`, or of any version when None)."""
    cond = scores.c.document_id == documents.c.id
    if version is not None:
        cond = sa.and_(cond, scores.c.model_version == version)
    return ~sa.exists().where(cond)


class ScoringQueries:
    """The store's side of scoring, mixed into Store."""

    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _begin(self) -> Any:  # provided by Store
        raise NotImplementedError

    def _insert_ignore(self, table: sa.Table) -> Any:  # provided by Store
        raise NotImplementedError

    def iter_missing_language(self, chunk_size: int = 1000) -> Iterator[list[tuple[str, str]]]:
        """(id, text) of documents with no language, in chunks; callers set a language before the next."""
        last = ""
        while True:
            query = (
                sa.select(documents.c.id, documents.c.text)
                .where(documents.c.language.is_(None), documents.c.id > last)
                .order_by(documents.c.id)
                .limit(chunk_size)
            )
            with self.engine.connect() as conn:
                rows = [(r[0], r[1]) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def count_missing_language(self) -> int:
        query = sa.select(sa.func.count()).select_from(documents).where(documents.c.language.is_(None))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def set_detected_languages(self, pairs: Sequence[tuple[str, str]]) -> None:
        if not pairs:
            return
        stmt = (
            documents.update()
            .where(documents.c.id == sa.bindparam("doc_id"))
            .values(language=sa.bindparam("lang"), language_detected=True)
        )
        with self._begin() as conn:
            conn.execute(stmt, [{"doc_id": d, "lang": lang} for d, lang in pairs])

    def count_to_score(self, language: str, version: str, rescore: bool) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(documents)
            .where(documents.c.language == language, _no_score(version if rescore else None))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def iter_to_score(
        self, language: str, version: str, rescore: bool, chunk_size: int
    ) -> Iterator[list[tuple[str, str, str]]]:
        """(id, text, text_hash) of documents in `language` still to score, in chunks (keyset on id)."""
        last = ""
        while True:
            query = (
                sa.select(documents.c.id, documents.c.text, documents.c.text_hash)
                .where(
                    documents.c.language == language,
                    documents.c.id > last,
                    _no_score(version if rescore else None),
                )
                .order_by(documents.c.id)
                .limit(chunk_size)
            )
            with self.engine.connect() as conn:
                rows = [(r[0], r[1], r[2]) for r in conn.execute(query)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def scores_for_hashes(self, hashes: Sequence[str], version: str) -> dict[str, Score]:
        """An existing score of `version` for each text hash that has one (reposts are scored once)."""
        found: dict[str, Score] = {}
        for i in range(0, len(hashes), 500):
            chunk = list(hashes[i : i + 500])
            query = (
                sa.select(documents.c.text_hash, scores)
                .join(documents, documents.c.id == scores.c.document_id)
                .where(scores.c.model_version == version, documents.c.text_hash.in_(chunk))
            )
            with self.engine.connect() as conn:
                for r in conn.execute(query).mappings():
                    found.setdefault(r["text_hash"], _score_from(r))
        return found

    def mark_unscored(self, configured: Sequence[str], now: datetime) -> None:
        """Record why documents in a language with no model stay unscored; forget reasons that no longer hold."""
        lang = sa.func.coalesce(documents.c.language, "unknown")
        reason = sa.literal("no model for language '") + lang + sa.literal("'")
        select = sa.select(documents.c.id, reason, sa.literal(now, UTCDateTime)).where(
            sa.or_(documents.c.language.is_(None), documents.c.language.not_in(list(configured) or [""])),
            _no_score(None),
        )
        with self._begin() as conn:
            conn.execute(
                unscored.delete().where(
                    unscored.c.document_id.in_(
                        sa.select(documents.c.id).where(
                            sa.or_(documents.c.language.in_(list(configured) or [""]), ~_no_score(None))
                        )
                    )
                )
            )
            conn.execute(self._insert_ignore(unscored).from_select(["document_id", "reason", "recorded_at"], select))

    def unscored_counts(self) -> dict[str, int]:
        query = sa.select(unscored.c.reason, sa.func.count()).group_by(unscored.c.reason).order_by(unscored.c.reason)
        with self.engine.connect() as conn:
            return {r[0]: int(r[1]) for r in conn.execute(query)}

    def daily_aggregates(
        self,
        versions: Sequence[str],
        *,
        by: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Any:
        """Per UTC day (and per actor/source/language with `by`): scored documents, unscored ones, the sum of
        hostility, and counts at level >= 3 and level 4, computed in the database with one GROUP BY. Only
        scores of `versions` count; other documents are counted as unscored. Returns a pandas DataFrame."""
        import pandas as pd

        if by not in (None, "actor", "source", "language"):
            raise ValueError("by must be actor, source or language")
        if self.dialect == "postgresql":
            day = sa.func.to_char(sa.func.timezone("UTC", documents.c.published_at), "YYYY-MM-DD")
        else:
            day = sa.func.substr(documents.c.published_at, 1, 10)
        key = sa.func.coalesce(documents.c[by], "(not named)") if by else sa.literal("all")
        joined = documents.outerjoin(
            scores, sa.and_(scores.c.document_id == documents.c.id, scores.c.model_version.in_(list(versions) or [""]))
        )
        scored = sa.func.count(scores.c.id)
        query = (
            sa.select(
                day.label("day"),
                key.label("key"),
                scored.label("documents"),
                (sa.func.count() - scored).label("unscored"),
                sa.func.coalesce(sa.func.sum(scores.c.hostility), 0.0).label("hostility_sum"),
                sa.func.count(sa.case((scores.c.level >= 3, 1))).label("hostile"),
                sa.func.count(sa.case((scores.c.level == 4, 1))).label("violent"),
            )
            .select_from(joined)
            .group_by(day, key)
        )
        if since is not None:
            query = query.where(documents.c.published_at >= since)
        if until is not None:
            query = query.where(documents.c.published_at < until)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        frame = pd.DataFrame(
            rows, columns=["day", "key", "documents", "unscored", "hostility_sum", "hostile", "violent"]
        )
        frame["day"] = pd.to_datetime(frame["day"])
        return frame

    def score_versions(self) -> list[str]:
        """Model versions that have scores, most scores first."""
        query = sa.select(scores.c.model_version, sa.func.count()).group_by(scores.c.model_version)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [r[0] for r in sorted(rows, key=lambda r: -r[1])]

    def latest_version_named(self, name: str) -> str | None:
        """The most recently registered version of a model name."""
        query = (
            sa.select(models.c.version).where(models.c.name == name).order_by(models.c.registered_at.desc()).limit(1)
        )
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def source_names(self, since: datetime | None = None, until: datetime | None = None) -> list[str]:
        query = sa.select(documents.c.source).distinct().order_by(documents.c.source)
        if since is not None:
            query = query.where(documents.c.published_at >= since)
        if until is not None:
            query = query.where(documents.c.published_at < until)
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    def register_model(self, version: str, name: str, digest: str, details: dict[str, Any], now: datetime) -> None:
        row = {"version": version, "name": name, "digest": digest, "details": json.dumps(details), "registered_at": now}
        with self._begin() as conn:
            conn.execute(self._insert_ignore(models), [row])


class AlertQueries:
    """The store's side of alerts, mixed into Store."""

    engine: Engine

    def _begin(self) -> Any:  # provided by Store
        raise NotImplementedError

    def load_alert_states(self) -> dict[str, Any]:
        """Every (rule, scope) state by fingerprint, with its firing alert if any."""
        from tracker.alerts import ScopeState

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
        self, state: Any, actions: Sequence[Any], payloads: Sequence[str], channels: Sequence[str], now: datetime
    ) -> list[int]:
        """In one transaction: the alert rows the actions touch, the scope's state, and one outbox row per
        action and channel (keyed, so the same message is never queued twice). Returns the alert ids."""
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
                if action.kind == "open":
                    alert_id = int(conn.execute(alerts_t.insert().values(**values)).inserted_primary_key[0])
                else:
                    alert_id = alert.id
                    if alert_id is None:
                        raise StorageError("internal error: an alert to update has no id")
                    conn.execute(alerts_t.update().where(alerts_t.c.id == alert_id).values(**values))
                ids.append(alert_id)
                for channel in channels:
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
        """The most hostile documents in a window (for alert messages), highest score first."""
        query = (
            sa.select(
                documents.c.text,
                documents.c.source,
                documents.c.published_at,
                documents.c.actor,
                scores.c.hostility,
                scores.c.level,
            )
            .join(scores, scores.c.document_id == documents.c.id)
            .where(
                scores.c.model_version.in_(list(versions) or [""]),
                documents.c.published_at >= since,
                documents.c.published_at < until,
            )
            .order_by(scores.c.hostility.desc(), documents.c.published_at)
            .limit(limit)
        )
        if by and key is not None:
            column = documents.c[by]
            query = query.where(column.is_(None) if key == "(not named)" else column == key)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]


def _alert_from(r: Any) -> Any:
    from tracker.alerts import Alert

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


# --- the store ----------------------------------------------------------------------------------------------


def _engine_for(url: str) -> Engine:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (SQLAlchemy's pysqlite recipe)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Store(ScoringQueries, AlertQueries, RunQueries):
    """Documents, scores and run records in one database; open with `Store.open(url)`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect and apply pending migrations; a StorageError names the (masked) url on failure."""
        try:
            store = cls(_engine_for(url), url)
            if migrate:
                store.migrate()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StorageError(
                f"cannot open the store at {mask_url(url)}: {reason}; check store.url and that the server is up"
            ) from None
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A write transaction (on SQLite, BEGIN IMMEDIATE so writers queue instead of failing)."""
        with self.engine.connect() as conn, conn.execution_options(immediate=True).begin():
            yield conn

    # -- schema --

    def migrate(self) -> list[int]:
        """Apply every migration not yet applied, each in its own transaction; return their numbers."""
        applied: list[int] = []
        with self._begin() as conn:
            schema_migrations.create(conn, checkfirst=True)
        for migration in MIGRATIONS:
            with self._begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7253001)"))
                done = conn.execute(
                    sa.select(schema_migrations.c.version).where(schema_migrations.c.version == migration.version)
                ).first()
                if done:
                    continue
                log.info("applying migration %03d: %s", migration.version, migration.name)
                migration.apply(conn)
                conn.execute(
                    schema_migrations.insert().values(
                        version=migration.version, name=migration.name, applied_at=datetime.now(UTC)
                    )
                )
                applied.append(migration.version)
        return applied

    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(schema_migrations.c.version))).scalar()
        return int(value or 0)

    # -- documents --

    def save_documents(self, docs: Sequence[Document]) -> int:
        """Insert the documents not already stored, in one transaction; return how many were new."""
        if not docs:
            return 0
        unique = list({d.id: d for d in docs}.values())
        with self._begin() as conn:
            existing = self._existing_ids(conn, [d.id for d in unique])
            rows = [_document_row(d) for d in unique if d.id not in existing]
            if rows:
                conn.execute(self._insert_ignore(documents), rows)
        return len(rows)

    def _existing_ids(self, conn: Connection, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            found.update(conn.execute(sa.select(documents.c.id).where(documents.c.id.in_(chunk))).scalars())
        return found

    def _insert_ignore(self, table: sa.Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()

    def count_documents(
        self, source: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> int:
        query = sa.select(sa.func.count()).select_from(documents)
        if source is not None:
            query = query.where(documents.c.source == source)
        if since is not None:
            query = query.where(documents.c.published_at >= since)
        if until is not None:
            query = query.where(documents.c.published_at < until)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def get_document(self, doc_id: str) -> Document | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().first()
        return _document_from(row) if row else None

    def iter_documents(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        chunk_size: int = 1000,
    ) -> Iterator[Document]:
        """Documents in publication order, read in chunks (keyset paging) so memory stays flat."""
        last: tuple[datetime, str] | None = None
        while True:
            query = sa.select(documents).order_by(documents.c.published_at, documents.c.id).limit(chunk_size)
            if since is not None:
                query = query.where(documents.c.published_at >= since)
            if until is not None:
                query = query.where(documents.c.published_at < until)
            if last is not None:
                query = query.where(sa.tuple_(documents.c.published_at, documents.c.id) > sa.tuple_(*last))
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            for row in rows:
                yield _document_from(row)
            last = (rows[-1]["published_at"], rows[-1]["id"])

    # -- scores --

    def save_scores(self, items: Iterable[Score]) -> int:
        """Store scores in one transaction; a (document, model version) pair already scored is kept as is."""
        rows = [
            {
                "document_id": s.document_id,
                "model_version": s.model_version,
                "level": s.level,
                "hostility": s.hostility,
                **{f"p{i}": float(p) for i, p in enumerate(s.probabilities)},
                "scored_at": s.scored_at,
            }
            for s in items
        ]
        if not rows:
            return 0
        with self._begin() as conn:
            inserted = conn.execute(self._insert_ignore(scores).returning(scores.c.id), rows).all()
        return len(inserted)

    def load_scores(self, document_id: str) -> list[Score]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(scores).where(scores.c.document_id == document_id).order_by(scores.c.id)
            ).mappings()
            return [_score_from(r) for r in rows]

    def count_scores(self, model_version: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(scores)
        if model_version is not None:
            query = query.where(scores.c.model_version == model_version)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- runs --

    def start_run(self, kind: str, now: datetime) -> int:
        with self._begin() as conn:
            result = conn.execute(runs.insert().values(kind=kind, started_at=now, status="running", counts="{}"))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(
        self, run_id: int, now: datetime, status: str, counts: dict[str, Any], error: str | None = None
    ) -> None:
        with self._begin() as conn:
            conn.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(
                    finished_at=now, status=status, counts=json.dumps(counts, sort_keys=True, default=str), error=error
                )
            )

    def recent_runs(self, limit: int = 10, kind: str | None = None) -> list[Run]:
        query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(runs.c.kind == kind)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Run(
                id=r["id"],
                kind=r["kind"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                status=r["status"],
                counts=json.loads(r["counts"] or "{}"),
                error=r["error"],
            )
            for r in rows
        ]


def _document_row(d: Document) -> dict[str, Any]:
    if d.published_at.tzinfo is None or d.fetched_at.tzinfo is None:
        raise StorageError(f"document {d.id}: naive datetime; convert times to UTC before saving")
    return {
        "id": d.id,
        "source": d.source,
        "external_id": d.external_id,
        "text": d.text,
        "text_hash": d.text_hash,
        "published_at": d.published_at,
        "fetched_at": d.fetched_at,
        "actor": d.actor,
        "language": d.language,
        "url": d.url,
        "language_detected": False,
    }


def _document_from(row: Any) -> Document:
    return Document(
        id=row["id"],
        source=row["source"],
        external_id=row["external_id"],
        text=row["text"],
        text_hash=row["text_hash"],
        published_at=row["published_at"],
        fetched_at=row["fetched_at"],
        actor=row["actor"],
        language=row["language"],
        url=row["url"],
    )


def _score_from(r: Any) -> Score:
    return Score(
        document_id=r["document_id"],
        model_version=r["model_version"],
        level=int(r["level"]),
        hostility=float(r["hostility"]),
        probabilities=(r["p0"], r["p1"], r["p2"], r["p3"], r["p4"]),
        scored_at=r["scored_at"],
    )
