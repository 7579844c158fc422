"""The bundled demo corpus: big enough, shaped like the founding story, marked synthetic, ingestible twice."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker.pipeline import ingest_paths
from tracker.pipeline.demo import demo_corpus_path
from tracker.sources.rows import RowOptions, parse_timestamp
from tracker.storage import Store

DEMO = demo_corpus_path()


def load_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    with open(DEMO / "telegram_statements.csv", encoding="utf-8", newline="") as fh:
        rows.extend({**r, "register": "statement"} for r in csv.DictReader(fh))
    with open(DEMO / "news.jsonl", encoding="utf-8") as fh:
        rows.extend({**json.loads(line), "register": "news"} for line in fh if line.strip())
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return load_rows()


def test_corpus_is_large_varied_and_in_range(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= 2000
    days = [parse_timestamp(r["published_at"]).date() for r in rows]
    assert min(days) >= date(2021, 1, 1) and max(days) <= date(2024, 6, 30)
    assert min(days) <= date(2021, 1, 15) and max(days) >= date(2024, 6, 1)
    assert len({r["actor"] for r in rows if r.get("actor")}) >= 4
    assert len({r["source"] for r in rows}) >= 6
    registers = {r["register"] for r in rows}
    assert registers == {"statement", "news"}
    assert sum(1 for r in rows if any("\u0600" <= ch <= "\u06ff" for ch in r["text"])) >= 50
    assert len({r["text"] for r in rows}) >= 500  # many distinct texts, not a handful repeated


def _mean_level(rows: list[dict[str, str]], start: date, end: date) -> float:
    levels = [int(r["intended_level"]) for r in rows if start <= parse_timestamp(r["published_at"]).date() < end]
    return sum(levels) / len(levels)


def test_corpus_follows_the_founding_story(rows: list[dict[str, str]]) -> None:
    tense = _mean_level(rows, date(2021, 1, 1), date(2022, 10, 27))
    calm = _mean_level(rows, date(2022, 11, 15), date(2023, 4, 30))
    rising = _mean_level(rows, date(2023, 7, 1), date(2023, 10, 17))
    wave = _mean_level(rows, date(2023, 10, 17), date(2024, 2, 1))
    pause = _mean_level(rows, date(2024, 2, 15), date(2024, 7, 1))
    assert calm + 1.0 < tense
    assert calm < rising < wave
    assert pause < wave - 1.0
    daily: dict[date, int] = defaultdict(int)
    for r in rows:
        daily[parse_timestamp(r["published_at"]).date()] += 1
    wave_days = [n for d, n in daily.items() if date(2023, 10, 17) <= d < date(2024, 2, 1)]
    calm_days = [n for d, n in daily.items() if date(2022, 11, 1) <= d < date(2023, 5, 1)]
    assert sum(wave_days) / len(wave_days) > 2 * sum(calm_days) / len(calm_days)


def test_corpus_is_marked_synthetic() -> None:
    readme = (DEMO.parent / "README.md").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "invented" in readme


def test_events_file_parses() -> None:
    with open(DEMO.parent / "events.csv", encoding="utf-8", newline="") as fh:
        events = list(csv.DictReader(fh))
    assert {"date", "label"} <= set(events[0])
    dates = [date.fromisoformat(e["date"]) for e in events]
    assert date(2022, 10, 27) in dates
    assert all(e["label"].strip() for e in events)


def test_ingesting_the_demo_corpus_twice_adds_nothing(tmp_path: Path, rows: list[dict[str, str]]) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'demo.db'}")
    now = datetime(2026, 11, 24, tzinfo=UTC)
    first = ingest_paths(store, [DEMO], RowOptions(), now=now)
    assert first.rejected == 0
    assert first.added == store.count_documents() >= 2000
    second = ingest_paths(store, [DEMO], RowOptions(), now=now)
    assert second.added == 0
    assert second.duplicates == second.read == first.read
    store.close()
