"""The committed bad-input corpus (tests/data/bad, see its README), one case per file, as a user meets it with
`tracker ingest`: the exit code, a message naming the file and line and what to do, no traceback, and every
good row stored (issue 13, fault 5)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BAD = REPO / "tests" / "data" / "bad"

CASES = [
    # file, exit code, rows stored, (line, words of the message) for each rejection
    ("a_png_renamed.csv", 1, 0, [(0, "not a text CSV file (it looks like a PNG image); export it as UTF-8 CSV")]),
    ("b_utf16.csv", 0, 2, []),
    ("c_unbalanced_quote.csv", 0, 3, [(3, "unbalanced quote); fix the quoting of this line")]),
    ("d_duplicate_header.csv", 1, 0, [(1, "column 'text' appears twice in the header (columns 1, 3); rename one")]),
    ("e_gzipped.csv", 0, 2, []),
    (
        "f_dates_out_of_bounds.csv",
        0,
        1,
        [(2, "published_at 2999-10-07 is outside the dates accepted (1990-01-01 to"), (3, "1970-01-01 is outside")],
    ),
    ("g_truncated_gzip.csv", 0, None, [(0, "cannot be read to the end (EOFError")]),
]


def ingest(home: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKER_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "tracker", "--config", str(REPO / "config.yaml"), "ingest", *map(str, paths)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def stored(home: Path) -> list[str]:
    with sqlite3.connect(home / "tracker.db") as conn:
        return [r[0] for r in conn.execute("SELECT text FROM documents ORDER BY published_at")]


@pytest.mark.parametrize(("name", "code", "rows", "rejections"), CASES, ids=[c[0] for c in CASES])
def test_each_bad_input(
    tmp_path: Path, name: str, code: int, rows: int | None, rejections: list[tuple[int, str]]
) -> None:
    path = BAD / name
    result = ingest(tmp_path, path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    for line, words in rejections:
        assert any(
            out.startswith(f"rejected {path}:{line}: ") and words in out for out in result.stderr.splitlines()
        ), (line, words, result.stderr)
    texts = stored(tmp_path)
    if rows is not None:
        assert len(texts) == rows, texts
    else:  # the truncated gzip: the rows before the cut are kept, in order, and nothing after
        assert 0 < len(texts) < 2000 and texts[0] == "Truncated file row 0"


def test_a_bad_file_in_a_folder_does_not_stop_the_files_after_it(tmp_path: Path) -> None:
    result = ingest(tmp_path, BAD)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    texts = set(stored(tmp_path))
    assert {"Calm returns to Basra", "Talks resume in Baghdad"} <= texts  # h_good_last.csv, read after the others
    assert {"Gzip calm returns to Basra", "Good row after the bad one", "A good date"} <= texts
    assert "rejected 6" in result.stdout
