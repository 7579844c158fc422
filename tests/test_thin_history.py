"""A new deployment has days, not months, of history: trends, charts, the report and the unattended run all
work, and say that change points need more history (issue 13, fault 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

TEXTS = ["our fighters attacked the base", "we thank the government for the agreement", "the minister said"]


def test_eight_days_of_history(tmp_path: Path, tiny_encoder: Path, tiny_head: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    rows = ["text,published_at,actor"]
    for d in range(8):
        day = date(2023, 10, 2) + timedelta(days=d)
        rows += [f"{t} {d},{day}T10:00:00+00:00,KH" for t in TEXTS]
    (data / "week.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\n"
        "scoring:\n  precision: fp32\n  detect_language: false\n  models:\n    en:\n"
        f"      name: tiny\n      path: {tiny_encoder}\n      head: {tiny_head}\n"
        f"sources:\n  - {{name: chan, kind: files, path: '{data}/*.csv', language: en}}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_HOME", None)

    def tracker(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "tracker", "--config", str(config), *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)

    note = "not enough history for change points (8 days, needs 28)"
    run = tracker("run")
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert "added 24 documents, scored 24" in run.stdout
    as_json = tracker("trends", "--json")
    assert as_json.returncode == 0, as_json.stderr
    data_out = json.loads(as_json.stdout)
    assert data_out["notes"] == [note] and data_out["change_points"] == [] and len(data_out["regimes"]) == 1
    text = tracker("trends")
    assert text.returncode == 0 and f"note: {note}" in text.stdout
    recent = tracker("trends", "--from", "2023-10-06")  # a window shorter than that too
    assert recent.returncode == 0 and "not enough history for change points (4 days, needs 28)" in recent.stdout
    chart = tracker("chart", "--out", str(tmp_path / "charts"))
    assert chart.returncode == 0, chart.stderr
    assert (tmp_path / "charts" / "trend.png").is_file()
    report = tracker("report", "--week", "2023-W40", "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    escaped = note.replace("(", "\\(").replace(")", "\\)")  # Markdown-escaped, as all data text in report.md
    assert escaped in markdown  # the regimes of all stored history, as `tracker trends` shows them
