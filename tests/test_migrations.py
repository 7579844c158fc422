"""A store written by release 0.1.0 (`tracker run` and `tracker alerts silence` on 120 demo rows, kept in
tests/fixtures) opens with the current code, upgrades in place, and loses nothing."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from tracker.storage import MIGRATIONS, Store

FIXTURE = Path(__file__).parent / "fixtures" / "store-release-0.1.0.db"
TABLES = ("documents", "scores", "unscored", "models", "runs", "silences", "alerts", "alert_state", "outbox")


def columns_of(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in TABLES}


def snapshot(path: Path, columns: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of its rows (the given columns, in a fixed order), read with plain
    sqlite3: later migrations may add columns, never change or lose what was there."""
    out = {}
    with sqlite3.connect(path) as conn:
        for table, cols in columns.items():
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY 1").fetchall()
            out[table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return out


def test_a_release_store_upgrades_in_place_with_nothing_lost(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    shutil.copy(FIXTURE, db)
    released = columns_of(db)
    before = snapshot(db, released)
    assert before["documents"][0] == 120 and before["scores"][0] == 110 and before["silences"][0] == 1
    with Store.open(f"sqlite:///{db}") as store:
        assert store.schema_version() == MIGRATIONS[-1].version
        assert store.count_documents() == 120 and store.count_scores() == 110
        docs = list(store.iter_documents())
        assert len({d.id for d in docs}) == 120 and all(d.published_at.tzinfo is not None for d in docs)
        assert [s["reason"] for s in store.active_silences(docs[0].published_at.date())] == ["fixture"]
    after = snapshot(db, released)
    assert after == before  # every row of every table that existed is still there, unchanged
    assert "date_estimated" in columns_of(db)["documents"]  # and migration 005 added its column
    with Store.open(f"sqlite:///{db}") as store, sqlite3.connect(db) as raw:  # 007 filled the daily aggregates
        versions = store.score_versions()
        for by in ("actor", "source", "language"):
            frame = store.daily_aggregates(versions, by=by)
            expected = raw.execute(
                f"SELECT substr(d.published_at, 1, 10), coalesce(d.{by}, '(not named)'), count(s.id), "
                "count(*) - count(s.id), round(coalesce(sum(s.hostility), 0), 6), "
                "count(CASE WHEN s.level >= 3 THEN 1 END), count(CASE WHEN s.level = 4 THEN 1 END) FROM documents d "
                "LEFT JOIN scores s ON s.document_id = d.id GROUP BY 1, 2"
            ).fetchall()
            got = [
                (
                    r.day.date().isoformat(),
                    r.key,
                    r.documents,
                    r.unscored,
                    round(r.hostility_sum, 6),
                    r.hostile,
                    r.violent,
                )
                for r in frame.itertuples(index=False)
            ]
            assert sorted(got) == sorted(expected), by


def test_migrations_never_import_the_live_table_definitions() -> None:
    source = (Path(__file__).parents[1] / "tracker" / "storage" / "migrations.py").read_text(encoding="utf-8")
    imported = [line for line in source.splitlines() if line.startswith("from tracker.storage.schema import")]
    assert imported == ["from tracker.storage.schema import UTCDateTime"]  # the column type only, never a table
