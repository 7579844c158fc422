"""The store's side of stories: documents not yet grouped, the grouped ones around a time, and the grouping
written back (with the story aggregates moved) in one transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.storage.schema import documents


@dataclass(frozen=True, slots=True)
class StoryDoc:
    """What grouping needs of a stored document."""

    id: str
    text: str
    published_at: datetime
    story_id: str | None
    story_first: bool


def _doc(r: Any) -> StoryDoc:
    return StoryDoc(r["id"], r["text"], r["published_at"], r["story_id"], bool(r["story_first"]))


_COLUMNS = (documents.c.id, documents.c.text, documents.c.published_at, documents.c.story_id, documents.c.story_first)


class StoryQueries:
    """Mixed into Store."""

    engine: Any
    if TYPE_CHECKING:  # provided by Store and AggregateQueries

        def _begin(self) -> AbstractContextManager[Connection]: ...

        def _move_story_first(self, conn: Connection, doc_ids: Sequence[str], first: bool) -> None: ...

    def count_ungrouped(self) -> int:
        query = sa.select(sa.func.count()).select_from(documents).where(documents.c.story_id.is_(None))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def ungrouped(self, limit: int) -> list[StoryDoc]:
        """The earliest documents not yet in a story, in publication order."""
        query = (
            sa.select(*_COLUMNS)
            .where(documents.c.story_id.is_(None))
            .order_by(documents.c.published_at, documents.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_doc(r) for r in conn.execute(query).mappings()]

    def grouped_between(self, since: datetime, until: datetime) -> list[StoryDoc]:
        """Documents already in a story published in [since, until]."""
        query = (
            sa.select(*_COLUMNS)
            .where(documents.c.story_id.is_not(None), documents.c.published_at.between(since, until))
            .order_by(documents.c.published_at, documents.c.id)
        )
        with self.engine.connect() as conn:
            return [_doc(r) for r in conn.execute(query).mappings()]

    def story_firsts(self, story_ids: Sequence[str]) -> list[StoryDoc]:
        """The first seen copy of each of these stories."""
        out: list[StoryDoc] = []
        with self.engine.connect() as conn:
            for i in range(0, len(story_ids), 500):
                query = sa.select(*_COLUMNS).where(
                    documents.c.story_id.in_(list(story_ids[i : i + 500])), documents.c.story_first == sa.true()
                )
                out.extend(_doc(r) for r in conn.execute(query).mappings())
        return out

    def assign_stories(self, stories: Mapping[str, str], first_on: Sequence[str], first_off: Sequence[str]) -> None:
        """Write each document's story, and which documents start or stop being their story's first seen copy
        (their counts move in the story aggregates), in one transaction."""
        if not stories and not first_on and not first_off:
            return
        with self._begin() as conn:
            stmt = (
                documents.update()
                .where(documents.c.id == sa.bindparam("doc_id"))
                .values(story_id=sa.bindparam("story"))
            )
            rows = [{"doc_id": d, "story": s} for d, s in stories.items()]
            for i in range(0, len(rows), 1000):
                conn.execute(stmt, rows[i : i + 1000])
            self._move_story_first(conn, list(first_off), False)
            self._move_story_first(conn, list(first_on), True)

    def story_copies(self, doc_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """For each document: how many copies its story has (itself included) and from how many sources."""
        out: dict[str, tuple[int, int]] = {}
        ids = list(dict.fromkeys(doc_ids))
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                query = sa.select(documents.c.id, documents.c.story_id).where(documents.c.id.in_(chunk))
                story_of: dict[str, str | None] = {r[0]: r[1] for r in conn.execute(query)}
                named = sorted({s for s in story_of.values() if s})
                counts: dict[str, tuple[int, int]] = {}
                if named:
                    counted = (
                        sa.select(
                            documents.c.story_id,
                            sa.func.count(),
                            sa.func.count(sa.distinct(documents.c.source)),
                        )
                        .where(documents.c.story_id.in_(named))
                        .group_by(documents.c.story_id)
                    )
                    counts = {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(counted)}
                for doc_id, story in story_of.items():
                    out[doc_id] = counts.get(story, (1, 1)) if story else (1, 1)
        return out
