"""The benchmarks still run (at a small size): they measure nothing here, but two of them had silently broken
when the store and the trends changed under them, and only `make bench` would have shown it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_trends_and_run_benchmarks_run_and_check_themselves_at_a_small_size() -> None:
    env = {**os.environ, "BENCH_TRENDS_SCORES": "20000", "BENCH_RUN_DOCUMENTS": "2000", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "trends", "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith(("trends over", "tracker run"))]
    assert len(rows) == 4, done.stdout
    trends = [r for r in rows if r.startswith("trends over 20,000 scores")]
    assert len(trends) == 3 and all("write path consistent on a 100k slice: True" in r for r in trends)
    assert "20,000 documents counted" in trends[0]  # overall: each document once
    (run,) = [r for r in rows if r.startswith("tracker run, nothing new, 2,000 stored documents")]
    assert "no (torch never imported)" in run and "scored 0" in run
