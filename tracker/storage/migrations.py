"""Numbered migrations, applied in order when the store is opened.

Each migration is frozen: it spells out the tables as they were when it was written and never imports the live
definitions in `schema`, so changing a table later means a new migration, never a rewrite of history."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.storage.schema import UTCDateTime

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
    """Alerts, per-scope alert state, silences and the delivery outbox."""
    md = sa.MetaData()
    sa.Table(
        "alerts",
        md,
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
    sa.Table(
        "alert_state",
        md,
        sa.Column("fingerprint", sa.String(16), primary_key=True),
        sa.Column("rule", sa.String(60), nullable=False),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("calm_windows", sa.Integer, nullable=False),
        sa.Column("cooldown_until", sa.Date),
        sa.Column("last_evaluated", sa.Date),
        sa.Column("alert_id", sa.Integer),
    )
    sa.Table(
        "silences",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(300), nullable=False),
        sa.Column("until", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "outbox",
        md,
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
    md.create_all(conn)
    conn.execute(sa.text("CREATE INDEX ix_alerts_fingerprint ON alerts (fingerprint)"))
    conn.execute(sa.text("CREATE INDEX ix_outbox_pending ON outbox (sent_at)"))


def _m004_sources_and_locks(conn: Connection) -> None:
    """Per-source fetch state (ETag, Last-Modified, disabled) and named locks (one run, one scheduler)."""
    md = sa.MetaData()
    sa.Table(
        "source_state",
        md,
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("last_status", sa.String(20)),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", UTCDateTime),
    )
    sa.Table(
        "locks",
        md,
        sa.Column("name", sa.String(50), primary_key=True),
        sa.Column("holder", sa.Text, nullable=False),
        sa.Column("acquired_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    md.create_all(conn)


def _m005_estimated_dates(conn: Connection) -> None:
    """A flag on documents whose time is the fetch time because the source gave none (a feed entry without a
    date)."""
    false = "false" if conn.dialect.name == "postgresql" else "0"
    conn.execute(sa.text(f"ALTER TABLE documents ADD COLUMN date_estimated BOOLEAN NOT NULL DEFAULT {false}"))


def _m006_forwards(conn: Connection) -> None:
    """Who a forwarded post was forwarded from (a Telegram channel quoting another)."""
    conn.execute(sa.text("ALTER TABLE documents ADD COLUMN forwarded_from TEXT"))


NOT_NAMED = "(not named)"
DOCUMENT_SCOPES = ("actor", "source", "language", "kind")


def _m007_kinds_targets_aggregates(conn: Connection) -> None:
    """Statements versus reports, the targets of each score, and daily aggregates per scope kept as scores are
    written; the aggregates are filled from what is stored (targets start empty: no earlier model had them)."""
    conn.execute(sa.text("ALTER TABLE documents ADD COLUMN kind VARCHAR(20)"))
    conn.execute(sa.text("ALTER TABLE scores ADD COLUMN targets TEXT"))
    md = sa.MetaData()
    sa.Table(
        "daily_documents",
        md,
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("documents", sa.Integer, nullable=False),
    )
    sa.Table(
        "daily_scores",
        md,
        sa.Column("model_version", sa.String(100), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("documents", sa.Integer, nullable=False),
        sa.Column("hostility_sum", sa.Float, nullable=False),
        sa.Column("hostile", sa.Integer, nullable=False),
        sa.Column("violent", sa.Integer, nullable=False),
    )
    md.create_all(conn)
    if conn.dialect.name == "postgresql":
        day = "to_char(timezone('UTC', d.published_at), 'YYYY-MM-DD')"
    else:
        day = "substr(d.published_at, 1, 10)"
    for scope in ("all", *DOCUMENT_SCOPES):
        key = "'all'" if scope == "all" else f"coalesce(d.{scope}, '{NOT_NAMED}')"
        groups = day if scope == "all" else f"{day}, {key}"
        conn.execute(
            sa.text(
                f"INSERT INTO daily_documents (day, scope, key, documents) "
                f"SELECT {day}, '{scope}', {key}, count(*) FROM documents d GROUP BY {groups}"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO daily_scores (model_version, day, scope, key, documents, hostility_sum, hostile, violent) "
                f"SELECT s.model_version, {day}, '{scope}', {key}, count(*), sum(s.hostility), "
                "sum(CASE WHEN s.level >= 3 THEN 1 ELSE 0 END), sum(CASE WHEN s.level = 4 THEN 1 ELSE 0 END) "
                f"FROM scores s JOIN documents d ON d.id = s.document_id GROUP BY s.model_version, {groups}"
            )
        )


def _m008_stories(conn: Connection) -> None:
    """Stories: each document's story (NULL until the ingest stage groups it) and whether it is the story's first
    seen copy; the aggregates gain story scopes ("s:all", "s:actor", ...) that count only first copies. Until
    grouped, every stored document is its own story, so the story scopes start as copies of the document ones."""
    conn.execute(sa.text("ALTER TABLE documents ADD COLUMN story_id VARCHAR(32)"))
    conn.execute(sa.text("ALTER TABLE documents ADD COLUMN story_first BOOLEAN NOT NULL DEFAULT TRUE"))
    conn.execute(sa.text("CREATE INDEX ix_documents_story ON documents (story_id)"))
    conn.execute(sa.text("CREATE INDEX ix_documents_unassigned ON documents (published_at) WHERE story_id IS NULL"))
    conn.execute(
        sa.text(
            "INSERT INTO daily_documents (day, scope, key, documents) "
            "SELECT day, 's:' || scope, key, documents FROM daily_documents"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO daily_scores (model_version, day, scope, key, documents, hostility_sum, hostile, violent) "
            "SELECT model_version, day, 's:' || scope, key, documents, hostility_sum, hostile, violent "
            "FROM daily_scores"
        )
    )


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial: documents, scores, runs", _m001_initial),
    Migration(2, "scoring: detected languages, unscored reasons, model registry", _m002_scoring),
    Migration(3, "alerts: alerts, alert state, silences, outbox", _m003_alerts),
    Migration(4, "sources and locks: fetch state per source, named locks", _m004_sources_and_locks),
    Migration(5, "estimated dates: documents dated by their fetch time", _m005_estimated_dates),
    Migration(6, "forwards: who a forwarded post came from", _m006_forwards),
    Migration(7, "kinds, targets and daily aggregates per scope", _m007_kinds_targets_aggregates),
    Migration(8, "stories: copies of one text grouped, aggregates per story", _m008_stories),
)
