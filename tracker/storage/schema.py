"""The current schema: the tables queries use, and the UTC timestamp type."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from tracker.errors import StorageError

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
    sa.Column("date_estimated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("forwarded_from", sa.Text),
    sa.Column("kind", sa.String(20)),  # statement (the actor speaks) | report (news about events and actors)
    sa.Column("story_id", sa.String(32)),  # the story's founding document; NULL until grouped (tracker.stories)
    sa.Column("story_first", sa.Boolean, nullable=False, server_default=sa.true()),  # first seen of its story
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
    sa.Column("targets", sa.Text),  # JSON {code: probability} from the model's target head; NULL when it has none
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

# Daily aggregates per scope, kept up to date as documents and scores are written (so trends cost days x keys,
# not documents). scope: all | actor | source | language | kind | target; key "(not named)" when unset.
daily_documents = sa.Table(
    "daily_documents",
    metadata,
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("documents", sa.Integer, nullable=False),
)

daily_scores = sa.Table(
    "daily_scores",
    metadata,
    sa.Column("model_version", sa.String(100), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("documents", sa.Integer, nullable=False),
    sa.Column("hostility_sum", sa.Float, nullable=False),
    sa.Column("hostile", sa.Integer, nullable=False),
    sa.Column("violent", sa.Integer, nullable=False),
)
