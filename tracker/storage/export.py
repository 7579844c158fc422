"""The store's side of `tracker export`: documents with their score by the given model versions, read in
publication order with keyset paging, so memory stays flat however many are exported."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tracker.scoring.evaluation import predicted_targets
from tracker.storage.aggregates import NOT_NAMED, stored_targets
from tracker.storage.schema import documents, scores

SCOPE_COLUMNS = ("actor", "source", "language", "kind")


class ExportQueries:
    """Mixed into Store."""

    engine: Any

    def iter_export_rows(
        self,
        versions: Sequence[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        scope: tuple[str, str] | None = None,
        chunk_size: int = 2000,
    ) -> Iterator[list[dict[str, Any]]]:
        """Chunks of documents (left-joined with their score by `versions`), oldest first. `scope` is
        (actor|source|language|kind|target, key); by target, a document whose score names that code with
        probability 0.5 or more."""
        joined = documents.outerjoin(
            scores, sa.and_(scores.c.document_id == documents.c.id, scores.c.model_version.in_(list(versions) or [""]))
        )
        base = sa.select(
            *documents.c,
            scores.c.model_version,
            scores.c.level,
            scores.c.hostility,
            *(scores.c[f"p{i}"] for i in range(5)),
            scores.c.targets,
        ).select_from(joined)
        if since is not None:
            base = base.where(documents.c.published_at >= since)
        if until is not None:
            base = base.where(documents.c.published_at < until)
        if scope is not None and scope[0] in SCOPE_COLUMNS:
            column = documents.c[scope[0]]
            base = base.where(column.is_(None) if scope[1] == NOT_NAMED else column == scope[1])
        last: tuple[datetime, str, str] | None = None
        order = (documents.c.published_at, documents.c.id, sa.func.coalesce(scores.c.model_version, ""))
        while True:
            query = base.order_by(*order).limit(chunk_size)
            if last is not None:
                query = query.where(sa.tuple_(*order) > sa.tuple_(*last))
            with self.engine.connect() as conn:
                rows = [dict(r) for r in conn.execute(query).mappings()]
            if not rows:
                return
            last = (rows[-1]["published_at"], rows[-1]["id"], rows[-1]["model_version"] or "")
            if scope is not None and scope[0] == "target":
                rows = [r for r in rows if scope[1] in predicted_targets(stored_targets(r["targets"]))]
            yield rows
