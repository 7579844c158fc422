"""The `tracker` command as a user runs it: a subprocess, real files, real exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_tracker

REPO = Path(__file__).resolve().parents[1]


def tracker(*args: str, home: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACKER_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("TRACKER_CONFIG", None)
    cmd = [sys.executable, "-m", "tracker"]
    if config is not None:
        cmd += ["--config", str(config)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=home.parent, timeout=300)


def test_help_lists_the_commands_and_the_readme_lists_the_same(tmp_path: Path) -> None:
    result = tracker("--help", home=tmp_path / "home")
    assert result.returncode == 0
    for command in ("config", "ingest", "demo"):
        assert command in result.stdout
    listed = result.stdout.split("Commands:\n", 1)[1].splitlines()
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("$ tracker --help\nCommands:\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[0] for line in block] == [line.split()[0] for line in listed if line.strip()]


def test_config_check_with_a_typo_fails_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("ingest:\n  timezon: UTC\n", encoding="utf-8")
    result = tracker("config", "check", home=tmp_path / "home", config=config)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "unknown key 'ingest.timezon'" in result.stderr
    assert "did you mean 'timezone'" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_prints_the_effective_config(tmp_path: Path) -> None:
    result = tracker("config", "check", home=tmp_path / "home", config=REPO / "config.yaml")
    assert result.returncode == 0
    assert "config OK" in result.stdout
    assert f"home: {tmp_path / 'home'}  (from TRACKER_HOME)" in result.stdout


def test_ingest_twice_adds_nothing_the_second_time(tmp_path: Path) -> None:
    data = tmp_path / "docs.csv"
    data.write_text("text,published_at\nOne,2023-01-01\nTwo,2023-01-02\n,2023-01-03\n", encoding="utf-8")
    first = tracker("ingest", str(data), "--source", "wire", home=tmp_path / "home")
    assert first.returncode == 0, first.stderr
    assert "added 2, duplicates 0, rejected 1" in first.stdout
    assert f"{data}:4: missing text" in first.stderr
    second = tracker("ingest", str(data), "--source", "wire", home=tmp_path / "home")
    assert second.returncode == 0
    assert "added 0, duplicates 2, rejected 1" in second.stdout
    log = next((tmp_path / "home" / "logs").glob("ingest-*-rejected.txt"))
    assert f"{data}:4: missing text" in log.read_text()


def test_ingest_exits_non_zero_only_when_nothing_could_be_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("body,date\nx,y\n", encoding="utf-8")
    result = tracker("ingest", str(bad), home=tmp_path / "home")
    assert result.returncode == 1
    assert "missing required column 'text'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = tracker("ingest", str(tmp_path / "nope.csv"), home=tmp_path / "home")
    assert missing.returncode == 1
    assert "no such file or folder" in missing.stderr


def test_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("store:\n  url: postgresql://u:pw@127.0.0.1:1/db\n", encoding="utf-8")
    data = tmp_path / "d.csv"
    data.write_text("text,published_at\nOne,2023-01-01\n", encoding="utf-8")
    result = tracker("ingest", str(data), home=tmp_path / "home", config=config)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot open the store at postgresql://u:***@127.0.0.1:1/db")
    assert "Traceback" not in result.stderr


def test_the_demo_follow_up_command_runs_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: the printed `tracker ... trends` must not depend on the current folder."""
    from tracker.cli.run import _follow_up
    from tracker.config import load_settings

    monkeypatch.chdir(tmp_path)  # no config.yaml here: built-in defaults
    bare = load_settings(None, env={"TRACKER_HOME": str(tmp_path / "h")})
    assert _follow_up(bare) == f"TRACKER_HOME={tmp_path / 'h'} tracker trends"
    config = tmp_path / "c.yaml"
    config.write_text("home: data\n", encoding="utf-8")
    assert _follow_up(load_settings(config, env={})) == f"tracker --config {config.resolve()} trends"


def test_the_demo_scores_again_a_database_kept_from_an_older_model(tmp_path: Path, demo_home: Path) -> None:
    """A demo home scored by an earlier model version (as after an upgrade): `tracker demo` rescores it with the
    configured model instead of failing with 'no document is scored by the configured model'."""
    import shutil
    import sqlite3

    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    old = "e5-hostility-v2@000000000000"
    with sqlite3.connect(home / "tracker.db") as db:
        (current,) = db.execute("SELECT DISTINCT model_version FROM scores").fetchone()
        for table, column in (("scores", "model_version"), ("daily_scores", "model_version"), ("models", "version")):
            db.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (old, current))
    result = run_tracker("demo", home=home)
    assert result.returncode == 0, result.stderr[-3000:]
    with sqlite3.connect(home / "tracker.db") as db:
        counts = dict(db.execute("SELECT model_version, COUNT(*) FROM scores GROUP BY model_version").fetchall())
        documents = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    assert counts == {old: documents, current: documents}  # the old scores are kept beside the new ones
