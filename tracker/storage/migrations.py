"""Numbered migrations, applied in order when the store is opened; each is written against the schema as it was then."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.storage.schema import (
    UTCDateTime,
    alert_state,
    alerts_t,
    locks,
    outbox,
    silences,
    source_state,
)

log = logging.getLogger(__name__)

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
