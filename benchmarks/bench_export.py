"""`tracker export` streams: peak Python memory for 20,000 and 200,000 documents should be about the same (issue 16).
Documents and scores are written through the store's own path."""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.store_path import save_in_chunks
from tracker.config import load_settings
from tracker.models import Document, Score
from tracker.pipeline.export import export_documents
from tracker.storage import Store

VERSION = "bench@0"
START = datetime(2022, 1, 1, tzinfo=UTC)


def _pair(i: int) -> tuple[Document, Score]:
    when = START + timedelta(minutes=7 * i)
    doc_id = f"{i:032d}"
    text = f"Statement {i}: the convoy was struck near the base, and the faction warned of more."
    doc = Document(doc_id, f"s{i % 9}", text, doc_id, when, when, None, f"actor {i % 5}", "en", kind="statement")
    level = i % 5
    return doc, Score(doc_id, VERSION, level, level / 4, (0.2,) * 5, when, (("US", 0.9), ("IQG", 0.2)))  # type: ignore[arg-type]


def _fill(store: Store, n: int) -> None:
    save_in_chunks(store, (_pair(i) for i in range(n)))


def run() -> list[dict[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "c.yaml").write_text(f"home: {tmp}\n", encoding="utf-8")
        settings = load_settings(tmp / "c.yaml", env={})
        for n in (20_000, 200_000):
            store = Store.open(f"sqlite:///{tmp / f'{n}.db'}")
            _fill(store, n)
            for fmt in ("csv", "parquet"):
                out = tmp / f"out-{n}.{fmt}"
                tracemalloc.start()
                start = time.perf_counter()
                summary = export_documents(settings, store, out=out, versions=[VERSION])
                seconds = time.perf_counter() - start
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                assert summary.rows == n
                rows.append(
                    {
                        "benchmark": f"export {n:,} documents to {fmt}",
                        "seconds": f"{seconds:.2f}",
                        "target": "memory flat in size",
                        "peak MB (Python heap)": f"{peak / 1e6:.1f}",
                        "note": f"{out.stat().st_size / 1e6:.1f} MB written (timed under tracemalloc)",
                    }
                )
            store.close()
    return rows
