"""Trends over 10,000,000 stored scores, overall and by target.

Target (issue 15): under 1 s, with memory flat (the cost grows with days x scopes, not with documents): trends
read the daily aggregates the store keeps per scope as scores are written, never the scores themselves.

The 10M documents and scores are written straight through sqlite3 in the store's schema (the store's own path,
one transaction per chunk with the aggregates updated alongside, writes about 20k documents a second here, so
10M would take hours); their daily aggregates are computed with pandas by the same rules as
`tracker.storage.aggregates` and written to its tables. A 100,000-document slice is checked against what the
store's write path produces for the same rows.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.store_path import save_in_chunks
from tracker.config import load_settings
from tracker.models import Document, Score
from tracker.pipeline.trends import compute_trends
from tracker.storage import Store
from tracker.storage.aggregates import NOT_NAMED, STORY

N = int(os.environ.get("BENCH_TRENDS_SCORES", "10000000"))
VERSION = "bench@0"
CODES = np.array(["US", "ISR", "IQG", "TUR", "KRG", "GULF", "IRN", "UK", "FAC", "OTHER", "NONE"])
START = datetime(2019, 1, 1, tzinfo=UTC)
YEARS = 5


def _frame(lo: int, hi: int, rng: np.random.Generator) -> pd.DataFrame:
    """Documents lo..hi-1: time, actor, source, kind, level and up to two targets (distinct, NONE alone, as a model's
    predicted targets are, so that `_aggregate` counting every listed code follows the store's rule)."""
    n = hi - lo
    seconds = np.sort(rng.integers(0, YEARS * 365 * 86400, n)) if n else np.array([], dtype=int)
    level = np.clip(rng.normal(2 + np.sin(seconds / 3e7), 1.0), 0, 4).round().astype(int)
    first = rng.integers(0, len(CODES), n)
    second = np.where(rng.random(n) < 0.3, rng.integers(0, len(CODES) - 1, n), -1)  # any code but NONE (the last)
    second = np.where((second == first) | (CODES[first] == "NONE"), -1, second)  # two distinct; NONE stands alone
    return pd.DataFrame(
        {
            "i": np.arange(lo, hi),
            "when": pd.to_datetime(START) + pd.to_timedelta(seconds, unit="s"),
            "actor": [f"actor {i % 12}" for i in range(lo, hi)],
            "source": [f"s{i % 40}" for i in range(lo, hi)],
            "kind": np.where(np.arange(lo, hi) % 3 == 0, "report", "statement"),
            "level": level,
            "t1": CODES[first],
            "t2": np.where(second >= 0, CODES[np.maximum(second, 0)], ""),
        }
    )


def _aggregate(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The daily_documents and daily_scores rows of `frame`, by the store's rules."""
    day = frame["when"].dt.strftime("%Y-%m-%d")
    base = pd.DataFrame(
        {
            "day": day,
            "h": frame["level"] / 4,
            "hostile": (frame["level"] >= 3).astype(int),
            "violent": (frame["level"] == 4).astype(int),
        }
    )
    parts = [base.assign(scope="all", key="all")]
    for scope in ("actor", "source", "kind"):
        parts.append(base.assign(scope=scope, key=frame[scope]))
    parts.append(base.assign(scope="language", key="en"))
    for col in ("t1", "t2"):
        mask = frame[col] != ""
        parts.append(base[mask].assign(scope="target", key=frame.loc[mask, col]))
    long = pd.concat(parts, ignore_index=True)
    scores = (
        long.groupby(["day", "scope", "key"], sort=False)
        .agg(
            documents=("h", "size"), hostility_sum=("h", "sum"), hostile=("hostile", "sum"), violent=("violent", "sum")
        )
        .reset_index()
    )
    # every synthetic document is the first copy of its own story: the story-unit rows (the default unit of
    # trends) equal the document-unit ones under the STORY prefix
    scores = pd.concat([scores, scores.assign(scope=STORY + scores["scope"])], ignore_index=True)
    docs = scores[~scores["scope"].isin(["target", STORY + "target"])][["day", "scope", "key", "documents"]]
    return docs, scores


def _fill(db: Path, n: int) -> None:
    Store.open(f"sqlite:///{db}").close()  # schema by the real migrations
    rng = np.random.default_rng(0)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    docs_parts, score_parts = [], []
    batch = 500_000
    for lo in range(0, n, batch):
        frame = _frame(lo, min(lo + batch, n), rng)
        when = frame["when"].dt.strftime("%Y-%m-%d %H:%M:%S.000000").tolist()
        ids = [f"{i:032d}" for i in frame["i"]]
        conn.executemany(
            "INSERT INTO documents (id, source, text, text_hash, published_at, fetched_at, actor, language, "
            "language_detected, date_estimated, kind) VALUES (?,?,'t',?,?,?,?,'en',0,0,?)",
            zip(ids, frame["source"], ids, when, when, frame["actor"], frame["kind"], strict=True),
        )
        conn.executemany(
            "INSERT INTO scores (document_id, model_version, level, hostility, p0, p1, p2, p3, p4, scored_at, targets) "
            "VALUES (?,?,?,?,0,0,0,0,0,?,?)",
            (
                (d, VERSION, int(lv), lv / 4, w, f'{{"{t1}": 0.9' + (f', "{t2}": 0.8}}' if t2 else "}"))
                for d, lv, w, t1, t2 in zip(ids, frame["level"], when, frame["t1"], frame["t2"], strict=True)
            ),
        )
        conn.commit()
        d, s = _aggregate(frame)
        docs_parts.append(d)
        score_parts.append(s)
    docs = pd.concat(docs_parts).groupby(["day", "scope", "key"], as_index=False)["documents"].sum()
    scores = pd.concat(score_parts).groupby(["day", "scope", "key"], as_index=False).sum()
    conn.executemany("INSERT INTO daily_documents VALUES (?,?,?,?)", docs.itertuples(index=False))
    conn.executemany(
        "INSERT INTO daily_scores VALUES (?,?,?,?,?,?,?,?)",
        (
            (VERSION, *row)
            for row in scores[["day", "scope", "key", "documents", "hostility_sum", "hostile", "violent"]].itertuples(
                index=False
            )
        ),
    )
    conn.commit()
    conn.close()


def _check_slice(tmp: Path) -> bool:
    """A 100,000-document slice through the store's own write path gives the aggregates `_aggregate` gives."""
    frame = _frame(0, 100_000, np.random.default_rng(1))
    store = Store.open(f"sqlite:///{tmp / 'slice.db'}")
    pairs = []
    for r in frame.itertuples(index=False):
        when = r.when.to_pydatetime()
        doc_id = f"{r.i:032d}"
        targets = ((r.t1, 0.9),) + (((r.t2, 0.8),) if r.t2 else ())
        pairs.append(
            (
                Document(doc_id, r.source, "t", doc_id, when, when, None, r.actor, "en", kind=r.kind),
                Score(doc_id, VERSION, int(r.level), r.level / 4, (0.0,) * 5, when, targets),  # type: ignore[arg-type]
            )
        )
    save_in_chunks(store, pairs)
    _, expected = _aggregate(frame)
    ok = True
    for scope, unit in itertools.product(("actor", "target"), ("documents", "stories")):
        got = store.daily_aggregates([VERSION], by=scope, unit=unit)
        want = expected[expected["scope"] == (STORY if unit == "stories" else "") + scope]
        ok = ok and int(got["documents"].sum()) == int(want["documents"].sum())
        ok = ok and abs(float(got["hostility_sum"].sum()) - float(want["hostility_sum"].sum())) < 1e-6
        ok = ok and NOT_NAMED not in set(got["key"])
    store.close()
    return ok


def run() -> list[dict[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        consistent = _check_slice(tmp)
        db = tmp / "big.db"
        t0 = time.perf_counter()
        _fill(db, N)
        build = time.perf_counter() - t0
        config = tmp / "config.yaml"
        config.write_text(f"home: {tmp}\nstore: {{url: 'sqlite:///{db}'}}\n", encoding="utf-8")
        settings = load_settings(config, env={})
        store = Store.open(f"sqlite:///{db}")
        for by, regimes_per_scope in ((None, True), ("target", False), ("target", True)):

            def work(by: str | None = by, per_scope: bool = regimes_per_scope) -> tuple[int, int]:
                if per_scope:
                    result = compute_trends(settings, store, by=by, versions=[VERSION])
                    return int(result.daily["documents"].sum()), len(result.scopes)
                agg = store.daily_aggregates([VERSION], by=by)
                return int(agg["documents"].sum()), len(agg)

            start = time.perf_counter()
            documents, size = work()
            seconds = time.perf_counter() - start
            tracemalloc.start()  # a second pass for memory: tracing slows Python, so it is not timed
            work()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            what = "daily aggregates read" if not regimes_per_scope else "compute_trends with each scope's regimes"
            rows.append(
                {
                    "benchmark": f"trends over {N:,} scores, {'by ' + by if by else 'overall'}: {what}",
                    "seconds": f"{seconds:.2f}",
                    "target": "< 1 s",
                    "peak MB (Python heap)": f"{peak / 1e6:.1f}",
                    "rows or scopes": f"{size:,}",
                    "note": f"{documents:,} documents counted; store built in {build:.0f} s (not timed); "
                    f"write path consistent on a 100k slice: {consistent}",
                }
            )
        store.close()
    return rows
