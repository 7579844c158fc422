"""Trends over 1,000,000 stored scores: aggregation in the database, series and regimes in vectorised pandas.

Target (issue 4): under 5 s on the development machine, and memory that does not hold every row as Python
objects (peak Python heap reported; the aggregation returns one row per day).
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tracker import trends
from tracker.storage import Store

N = 1_000_000
VERSION = "bench@0"


def _fill(db: Path, n: int) -> None:
    """Write n documents and n scores straight through sqlite3 (fast), in the store's own schema."""
    Store.open(f"sqlite:///{db}").close()  # schema by the real migrations
    rng = np.random.default_rng(0)
    start = datetime(2019, 1, 1, tzinfo=UTC)
    seconds = np.sort(rng.integers(0, 5 * 365 * 86400, n))
    levels = np.clip(rng.normal(2 + np.sin(seconds / 3e7), 1.0), 0, 4).round().astype(int)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    batch = 100_000
    for lo in range(0, n, batch):
        docs, scs = [], []
        for i in range(lo, min(lo + batch, n)):
            when = (start + timedelta(seconds=int(seconds[i]))).strftime("%Y-%m-%d %H:%M:%S.000000")
            doc_id = f"{i:032d}"
            docs.append((doc_id, f"s{i % 40}", None, "t", f"h{i}", when, when, f"actor {i % 12}", "en", None, 0))
            lv = int(levels[i])
            probs = [0.0] * 5
            probs[lv] = 1.0
            scs.append((doc_id, VERSION, lv, lv / 4, *probs, when))
        conn.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)", docs)
        conn.executemany(
            "INSERT INTO scores (document_id, model_version, level, hostility, p0, p1, p2, p3, p4, scored_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            scs,
        )
        conn.commit()
    conn.close()


def run() -> list[dict[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.db"
        t0 = time.perf_counter()
        _fill(db, N)
        build = time.perf_counter() - t0
        store = Store.open(f"sqlite:///{db}")
        for by in (None, "actor"):

            def work(by: str | None = by) -> tuple[int, int, int]:
                agg = store.daily_aggregates([VERSION], by=by)
                total = trends.overall(agg)
                daily = trends.build_series(total)
                trends.build_series(total, freq="W")
                if by:
                    trends.build_series(agg)
                _, regimes = trends.detect_regimes(daily, trends.make_detector("pelt"))
                return int(daily["documents"].sum()), len(agg), len(regimes)

            start = time.perf_counter()
            documents, agg_rows, n_regimes = work()
            seconds = time.perf_counter() - start
            tracemalloc.start()  # a second pass for memory: tracing slows Python, so it is not timed
            work()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert documents == N
            rows.append(
                {
                    "benchmark": f"trends over {N:,} scores" + (f", by {by}" if by else ""),
                    "seconds": f"{seconds:.2f}",
                    "target": "< 5 s",
                    "peak MB (Python heap)": f"{peak / 1e6:.1f}",
                    "aggregate rows": f"{agg_rows:,}",
                    "regimes": str(n_regimes),
                    "note": f"store built in {build:.0f} s (not timed)",
                }
            )
        store.close()
    return rows
