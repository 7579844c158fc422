"""The store: SQLAlchemy Core over SQLite (default) or PostgreSQL (by URL).

The schema is built by numbered migrations applied when the store is opened; never edit a live schema by
hand. Times are stored in UTC and always come back timezone-aware. Queries are grouped by concern in the
modules of this package (scoring, alerts, runs) and mixed into Store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tracker.errors import StorageError
from tracker.models import Document, Run, Score
from tracker.storage.aggregates import AggregateQueries
from tracker.storage.alerts import AlertQueries
from tracker.storage.export import ExportQueries
from tracker.storage.migrations import MIGRATIONS, Migration
from tracker.storage.runs import RunQueries
from tracker.storage.schema import UTCDateTime, documents, runs, schema_migrations, scores
from tracker.storage.scoring import ScoringQueries, _score_from
from tracker.storage.stories import StoryDoc, StoryQueries
from tracker.urls import mask_url, sqlalchemy_url

log = logging.getLogger(__name__)

# --- the store ----------------------------------------------------------------------------------------------


def _engine_for(url: str) -> Engine:
    url = sqlalchemy_url(url)
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


class Store(ScoringQueries, AggregateQueries, AlertQueries, RunQueries, ExportQueries, StoryQueries):
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
                conn.execute(  # stamped by the database's clock: opening a store takes no `now`
                    schema_migrations.insert().values(
                        version=migration.version, name=migration.name, applied_at=sa.func.current_timestamp()
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
                self._count_documents(conn, rows)
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

    def has_documents(self) -> bool:
        """Whether any document is stored (one indexed row looked up, whatever the store's size)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(documents.c.id).limit(1)).first() is not None

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
                "targets": json.dumps(dict(s.targets)) if s.targets else None,
            }
            for s in items
        ]
        if not rows:
            return 0
        given = {(s.document_id, s.model_version): s for s in items}
        with self._begin() as conn:
            inserted = conn.execute(
                self._insert_ignore(scores).returning(scores.c.document_id, scores.c.model_version), rows
            ).all()
            self._count_scores(conn, [given[(r[0], r[1])] for r in inserted])
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

    def abort_runs(self, started_at: datetime, now: datetime, reason: str) -> int:
        """Mark the runs still `running` that started at `started_at` (a cycle and the ingest and score runs it
        started, which share its `now`) as `aborted`: their process died."""
        with self._begin() as conn:
            result = conn.execute(
                runs.update()
                .where(runs.c.status == "running", runs.c.started_at == started_at)
                .values(status="aborted", finished_at=now, error=reason)
            )
        return int(result.rowcount or 0)

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
        "date_estimated": d.date_estimated,
        "forwarded_from": d.forwarded_from,
        "kind": d.kind,
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
        date_estimated=bool(row["date_estimated"]),
        forwarded_from=row["forwarded_from"],
        kind=row["kind"],
    )


__all__ = ["MIGRATIONS", "Migration", "Store", "StoryDoc", "UTCDateTime"]
