"""The store's side of scoring: languages, documents to score, reposts, unscored reasons, models, aggregates."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker.models import Score
from tracker.storage.aggregates import stored_targets
from tracker.storage.schema import (
    UTCDateTime,
    documents,
    models,
    scores,
    unscored,
)

log = logging.getLogger(__name__)

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
            self._move_language(conn, pairs)  # type: ignore[attr-defined]

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


def _score_from(r: Any) -> Score:
    return Score(
        document_id=r["document_id"],
        model_version=r["model_version"],
        level=int(r["level"]),
        hostility=float(r["hostility"]),
        probabilities=(r["p0"], r["p1"], r["p2"], r["p3"], r["p4"]),
        scored_at=r["scored_at"],
        targets=stored_targets(r.get("targets")),
    )
