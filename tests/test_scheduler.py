"""`tracker schedule` as a real process: cycles run, a second scheduler is refused, SIGTERM exits cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_schedule_runs_cycles_refuses_a_second_scheduler_and_stops_on_sigterm(
    tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    data = tmp_path / "docs.csv"
    data.write_text(
        "text,published_at\nOur fighters attacked the base,2023-10-17\nTalks resume,2023-10-18\n", encoding="utf-8"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\n"
        f"sources:\n  - {{name: files, kind: files, path: '{data}', language: en}}\n"
        "scoring:\n  precision: fp32\n  detect_language: false\n  models:\n    en:\n"
        f"      name: tiny\n      path: {tiny_encoder}\n      head: {tiny_head}\n"
        "schedule:\n  cycle: {interval_seconds: 2}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "tracker", "--config", str(config)]
    log = open(tmp_path / "schedule.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([*cmd, "schedule"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        runs: list[dict[str, object]] = []
        status: dict[str, object] = {}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            out = subprocess.run([*cmd, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
            if out.returncode == 0:
                status = json.loads(out.stdout)
                runs = [r for r in status["runs"] if r["kind"] == "run" and r["status"] != "running"]  # type: ignore[union-attr,index]
                if len(runs) >= 2:
                    break
            time.sleep(1)
        assert len(runs) >= 2, (tmp_path / "schedule.log").read_text()
        assert all(r["status"] == "ok" for r in runs)
        assert {j["id"] for j in status["next_runs"]} >= {"cycle", "weekly-report"}  # type: ignore[union-attr]
        assert status["totals"]["documents"] == 2  # type: ignore[index]

        second = subprocess.run([*cmd, "schedule"], env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert "another tracker schedule is running" in second.stderr and "Traceback" not in second.stderr

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "schedule.log").read_text()
    assert "scheduler stopped" in text and "Traceback" not in text
