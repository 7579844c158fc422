"""Ingest throughput and peak memory for a small and a 10x larger CSV: memory must not grow with file size."""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

from tracker.pipeline import ingest_paths
from tracker.sources.rows import RowOptions
from tracker.storage import Store

SIZES = (20_000, 200_000)


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("id,text,published_at,actor\n")
        for i in range(rows):
            out.write(
                f'{i},"Statement {i}: the resistance warns the occupation forces that patience has limits '
                f'and that the response will come at the time and place of its choosing.",'
                f"2023-{(i % 12) + 1:02d}-{(i % 28) + 1:02d}T{i % 24:02d}:00:00+03:00,Actor {i % 7}\n"
            )


def run() -> list[dict[str, str]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base_peak = None
        for rows in SIZES:
            path = Path(tmp) / f"corpus_{rows}.csv"
            _write_csv(path, rows)
            store = Store.open(f"sqlite:///{Path(tmp) / f'bench_{rows}.db'}")
            tracemalloc.start()
            start = time.perf_counter()
            summary = ingest_paths(store, [path], RowOptions(source="bench"), now=datetime.now(UTC), batch_size=1000)
            elapsed = time.perf_counter() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            store.close()
            assert summary.added == rows, summary
            base_peak = base_peak or peak
            results.append(
                {
                    "benchmark": f"ingest CSV {rows:,} rows",
                    "file MB": f"{path.stat().st_size / 1e6:.1f}",
                    "seconds": f"{elapsed:.2f}",
                    "rows/s": f"{rows / elapsed:,.0f}",
                    "peak MB (Python heap)": f"{peak / 1e6:.1f}",
                    "peak vs smallest": f"{peak / base_peak:.2f}x",
                }
            )
    return results
