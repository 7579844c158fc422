"""`tracker run` with nothing new to fetch or score, on a store of 100,000 scored documents: it must not load
the model and should finish in a few seconds (issue 7). Timed as a user runs it: a fresh process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

N = int(os.environ.get("BENCH_RUN_DOCUMENTS", "100000"))
REPO = Path(__file__).resolve().parents[1]


def run() -> list[dict[str, str]]:
    from benchmarks.store_path import save_in_chunks
    from tracker.config import load_settings
    from tracker.models import Document, Score
    from tracker.storage import Store

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        data = Path(tmp) / "small.csv"
        data.write_text("text,published_at\nAlready stored,2024-01-01\n", encoding="utf-8")
        config = Path(tmp) / "config.yaml"
        config.write_text(
            f"home: {home}\nsources:\n  - {{name: small, kind: files, path: '{data}', language: en}}\n",
            encoding="utf-8",
        )
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "tracker", "--config", str(config), "run"]
        subprocess.run(cmd, env=env, capture_output=True, check=True)  # first run ingests and scores the one row
        settings = load_settings(config, env={})
        store = Store.open(settings.database_url)
        with sqlite3.connect(home / "tracker.db") as conn:  # the configured model's version, as the run stored it
            (version,) = conn.execute("SELECT model_version FROM scores LIMIT 1").fetchone()
        start = datetime(2020, 1, 1, tzinfo=UTC)
        whens = (start + timedelta(minutes=30 * i) for i in range(N))
        save_in_chunks(
            store,
            (
                (
                    Document(f"{i:032d}", "bench", f"text {i}", f"h{i}", when, when, str(i), None, "en"),
                    Score(f"{i:032d}", version, 1, 0.25, (0.0, 1.0, 0.0, 0.0, 0.0), when),
                )
                for i, when in enumerate(whens)
            ),
        )
        store.close()
        # one untimed run groups the bulk-loaded documents into stories, as the runs that stored them would have
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        began = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        seconds = time.perf_counter() - began
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from datetime import UTC, datetime; from tracker.config import load_settings; "
                "from tracker.pipeline import open_store; from tracker.pipeline.run import run_once; "
                f"s = load_settings({str(config)!r}); st = open_store(s); r = run_once(s, st, now=datetime.now(UTC)); "
                "print(r.scored, 'torch' in sys.modules)",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    return [
        {
            "benchmark": f"tracker run, nothing new, {N:,} stored documents",
            "seconds": f"{seconds:.2f}",
            "target": "a few seconds",
            "scored": probe[0],
            "model loaded": "yes" if probe[1] == "True" else "no (torch never imported)",
            "note": out.stdout.strip().splitlines()[-1][:60],
        }
    ]
