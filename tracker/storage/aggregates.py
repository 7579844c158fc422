"""Daily aggregates per scope, kept up to date in the same transaction as the documents and scores they count, so
that trends cost days x keys rather than documents. Scopes: all, actor, source, language, kind (from documents)
and target (from each score's target head: a document counts toward every code with probability >= 0.5, NONE
only alone, as `predicted_targets` decides)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.models import Score
from tracker.scoring.evaluation import predicted_targets
from tracker.storage.schema import daily_documents, daily_scores, documents, scores

NOT_NAMED = "(not named)"
DOCUMENT_SCOPES = ("actor", "source", "language", "kind")
SCOPES = ("all", *DOCUMENT_SCOPES, "target", "target_kind")  # target_kind: "US|statement", for the report
STORY = "s:"  # the same scopes counting each story once, by its first seen copy: "s:all", "s:target", ...
UNITS = ("stories", "documents")


def utc_day(when: datetime) -> str:
    return when.astimezone(UTC).date().isoformat()


def document_keys(row: Any) -> list[tuple[str, str]]:
    """The (scope, key) pairs a stored document counts in (targets come from its scores)."""
    return [("all", "all"), *((scope, row[scope] or NOT_NAMED) for scope in DOCUMENT_SCOPES)]


def stored_targets(text: str | None) -> tuple[tuple[str, float], ...]:
    """A score's targets as stored (JSON {code: probability}, NULL for a model without a target head)."""
    return tuple(json.loads(text).items()) if text else ()


class AggregateQueries:
    """The store's side of the daily aggregates, mixed into Store."""

    engine: Any

    @property
    def dialect(self) -> str:
        return str(self.engine.dialect.name)

    def _upsert_add(self, conn: Connection, table: sa.Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
        """Add `rows`' counts to the stored ones (insert when absent), in the caller's transaction."""
        if not rows:
            return
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        stmt = insert(table)
        counts = [c.name for c in table.columns if c.name not in keys]
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: table.c[c] + stmt.excluded[c] for c in counts}
        )
        conn.execute(stmt, rows)

    def _count_documents(
        self, conn: Connection, rows: Sequence[Any], sign: int = 1, *, units: Sequence[str] = UNITS
    ) -> None:
        """Count documents (rows as written: a new document is its own story until grouped) into
        daily_documents, as documents and, when first seen of their story, as stories."""
        counter: Counter[tuple[str, str, str]] = Counter()
        for r in rows:
            day = utc_day(r["published_at"])
            first = r.get("story_first", True) is not False
            for scope, key in document_keys(r):
                if "documents" in units:
                    counter[(day, scope, key)] += sign
                if "stories" in units and first:
                    counter[(day, STORY + scope, key)] += sign
        self._upsert_add(
            conn,
            daily_documents,
            [{"day": d, "scope": s, "key": k, "documents": n} for (d, s, k), n in counter.items()],
            ("day", "scope", "key"),
        )

    def _documents_by_id(self, conn: Connection, ids: Sequence[str]) -> dict[str, Any]:
        docs: dict[str, Any] = {}
        for i in range(0, len(ids), 500):
            query = sa.select(
                documents.c.id,
                documents.c.published_at,
                documents.c.story_first,
                *(documents.c[s] for s in DOCUMENT_SCOPES),
            ).where(documents.c.id.in_(ids[i : i + 500]))
            docs.update({r["id"]: r for r in conn.execute(query).mappings()})
        return docs

    def _count_scores(
        self,
        conn: Connection,
        inserted: Sequence[Score],
        sign: int = 1,
        *,
        units: Sequence[str] = UNITS,
        as_first: bool = False,
    ) -> None:
        """Count scores into daily_scores, by every scope of their documents and by target: as documents and,
        for the first seen copy of a story (or all, with `as_first`), as stories."""
        if not inserted:
            return
        docs = self._documents_by_id(conn, sorted({s.document_id for s in inserted}))
        sums: dict[tuple[str, str, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0, 0])
        for s in inserted:
            doc = docs[s.document_id]
            prefixes = [p for p, unit in (("", "documents"), (STORY, "stories")) if unit in units]
            if not (doc["story_first"] or as_first):
                prefixes = [p for p in prefixes if p != STORY]
            day = utc_day(doc["published_at"])
            codes = predicted_targets(s.targets)
            kind = doc["kind"] or NOT_NAMED
            pairs = [
                *document_keys(doc),
                *(("target", c) for c in codes),
                *(("target_kind", f"{c}|{kind}") for c in codes),
            ]
            for (scope, key), prefix in ((pair, p) for pair in pairs for p in prefixes):
                acc = sums[(s.model_version, day, prefix + scope, key)]
                acc[0] += sign
                acc[1] += sign * float(s.hostility)
                acc[2] += sign * int(s.level >= 3)
                acc[3] += sign * int(s.level == 4)
        rows = [
            {
                "model_version": v,
                "day": d,
                "scope": sc,
                "key": k,
                "documents": int(a[0]),
                "hostility_sum": float(a[1]),
                "hostile": int(a[2]),
                "violent": int(a[3]),
            }
            for (v, d, sc, k), a in sums.items()
        ]
        self._upsert_add(conn, daily_scores, rows, ("model_version", "day", "scope", "key"))

    def _move_story_first(self, conn: Connection, doc_ids: Sequence[str], first: bool) -> None:
        """Documents that become (or stop being) the first seen copy of their story: their documents and scores
        enter (or leave) the story scopes. The caller updates documents.story_first in the same transaction."""
        if not doc_ids:
            return
        sign = 1 if first else -1
        docs = self._documents_by_id(conn, sorted(doc_ids))
        self._count_documents(conn, [{**r, "story_first": True} for r in docs.values()], sign, units=("stories",))
        rows: list[Score] = []
        for i in range(0, len(doc_ids), 500):
            query = sa.select(scores).where(scores.c.document_id.in_(list(doc_ids)[i : i + 500]))
            for r in conn.execute(query).mappings():
                rows.append(
                    Score(
                        r["document_id"],
                        r["model_version"],
                        r["level"],
                        r["hostility"],
                        (0.0,) * 5,
                        r["scored_at"],
                        stored_targets(r["targets"]),
                    )
                )
        conn.execute(documents.update().where(documents.c.id.in_(list(doc_ids))).values(story_first=first))
        self._count_scores(conn, rows, sign, units=("stories",), as_first=True)

    def _move_language(self, conn: Connection, pairs: Sequence[tuple[str, str]]) -> None:
        """Documents whose language was detected move from "(not named)" to it, in both aggregate tables."""
        ids = [doc_id for doc_id, _ in pairs]
        lang = dict(pairs)
        day_of: dict[str, tuple[str, bool]] = {}
        for i in range(0, len(ids), 500):
            query = sa.select(documents.c.id, documents.c.published_at, documents.c.story_first).where(
                documents.c.id.in_(ids[i : i + 500])
            )
            day_of.update({r[0]: (utc_day(r[1]), bool(r[2])) for r in conn.execute(query)})
        moved: Counter[tuple[str, str, str]] = Counter()
        for doc_id, (day, first) in day_of.items():
            for scope in ("language", STORY + "language") if first else ("language",):
                moved[(day, scope, NOT_NAMED)] -= 1
                moved[(day, scope, lang[doc_id])] += 1
        self._upsert_add(
            conn,
            daily_documents,
            [{"day": d, "scope": s, "key": k, "documents": n} for (d, s, k), n in moved.items()],
            ("day", "scope", "key"),
        )

    def daily_aggregates(
        self,
        versions: Sequence[str],
        *,
        by: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        unit: str = "stories",
    ) -> Any:
        """Per UTC day (and per actor/source/language/kind/target with `by`): scored documents, unscored ones,
        the sum of hostility, and counts at level >= 3 and level 4, read from the daily aggregates (cost: days x
        keys). Only scores of `versions` count; other documents count as unscored (not by target: a document
        has targets only once scored). `since`/`until` are whole UTC days. `unit`: "stories" counts each story once,
        by its first seen copy (the default), "documents" every copy. Returns a pandas DataFrame."""
        import pandas as pd

        if by not in (None, *SCOPES[1:]):
            raise ValueError("by must be actor, source, language, kind or target (or target_kind)")
        if unit not in UNITS:
            raise ValueError("unit must be stories or documents")
        scope = (STORY if unit == "stories" else "") + (by or "all")
        scored_q = (
            sa.select(
                daily_scores.c.day,
                daily_scores.c.key,
                sa.func.sum(daily_scores.c.documents),
                sa.func.sum(daily_scores.c.hostility_sum),
                sa.func.sum(daily_scores.c.hostile),
                sa.func.sum(daily_scores.c.violent),
            )
            .where(daily_scores.c.scope == scope, daily_scores.c.model_version.in_(list(versions) or [""]))
            .group_by(daily_scores.c.day, daily_scores.c.key)
        )
        docs_q = sa.select(daily_documents.c.day, daily_documents.c.key, daily_documents.c.documents).where(
            daily_documents.c.scope == scope, daily_documents.c.documents != 0
        )
        if since is not None:
            scored_q = scored_q.where(daily_scores.c.day >= utc_day(since))
            docs_q = docs_q.where(daily_documents.c.day >= utc_day(since))
        if until is not None:  # exclusive bound at a day start
            scored_q = scored_q.where(daily_scores.c.day < utc_day(until))
            docs_q = docs_q.where(daily_documents.c.day < utc_day(until))
        with self.engine.connect() as conn:
            scored = pd.DataFrame(
                [tuple(r) for r in conn.execute(scored_q)],
                columns=["day", "key", "documents", "hostility_sum", "hostile", "violent"],
            )
            stored = pd.DataFrame([tuple(r) for r in conn.execute(docs_q)], columns=["day", "key", "stored"])
        if by in ("target", "target_kind"):
            stored = stored.iloc[0:0]
        frame = scored.merge(stored, on=["day", "key"], how="outer")
        for col in ("documents", "hostile", "violent", "stored"):
            frame[col] = frame[col].fillna(0).astype("int64")
        frame["hostility_sum"] = frame["hostility_sum"].fillna(0.0).astype("float64")
        frame["unscored"] = (frame["stored"] - frame["documents"]).clip(lower=0)
        frame["day"] = pd.to_datetime(frame["day"])
        frame = frame.sort_values(["day", "key"]).reset_index(drop=True)
        return frame.loc[:, ["day", "key", "documents", "unscored", "hostility_sum", "hostile", "violent"]]
