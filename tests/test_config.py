"""Config: read once, validated, frozen; errors are one line naming the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from tracker.config import load_settings
from tracker.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_is_valid_and_matches_the_defaults() -> None:
    settings = load_settings(REPO / "config.yaml", env={})
    assert settings.home == REPO / ".tracker"
    assert settings.ingest.timezone == "UTC"
    assert settings.events_file is not None and settings.events_file.is_file()
    assert settings.database_url == f"sqlite:///{REPO / '.tracker' / 'tracker.db'}"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("stor:\n  url: null\n", "unknown key 'stor'; did you mean 'store'?"),
        ("ingest:\n  batchsize: 10\n", "unknown key 'ingest.batchsize'; did you mean 'batch_size'?"),
        ("ingest:\n  batch_size: many\n", "ingest.batch_size: input should be a valid integer"),
        ("ingest:\n  batch_size: 0\n", "ingest.batch_size: input should be greater than or equal to 1"),
        ("ingest:\n  timezone: Mars/Olympus\n", "ingest.timezone: must be an IANA timezone name"),
        ("ingest:\n  columns: {body: text}\n", "ingest.columns: unknown field 'body'"),
        ("store:\n  url: mysql://x/y\n", "store.url: must be a sqlite:///PATH or postgresql://"),
        ("log_level: LOUD\n", "log_level: input should be"),
        ("home_from: x\n", "unknown key 'home_from'"),
        ("- a list\n", "the top level must be a mapping"),
        ("store: [\n", "invalid YAML"),
    ],
)
def test_bad_config_fails_with_one_line_naming_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert needle in message
    assert "\n" not in message
    assert message.startswith(str(path))


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "home: h\n"), env={})
    with pytest.raises(ValidationError):
        settings.home = Path("/elsewhere")  # type: ignore[misc]


def test_home_is_relative_to_the_config_file_and_tracker_home_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "home: data/home\n")
    assert load_settings(path, env={}).home == tmp_path / "data" / "home"
    override = tmp_path / "elsewhere"
    settings = load_settings(path, env={"TRACKER_HOME": str(override)})
    assert settings.home == override
    assert settings.home_from == "TRACKER_HOME"


def test_tracker_config_selects_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "ingest:\n  timezone: Asia/Baghdad\n")
    assert load_settings(None, env={"TRACKER_CONFIG": str(path)}).ingest.timezone == "Asia/Baghdad"
    with pytest.raises(ConfigError, match="not found"):
        load_settings(None, env={"TRACKER_CONFIG": str(tmp_path / "nope.yaml")})


def test_the_database_password_comes_from_the_named_variable_read_once_at_load_and_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "store:\n  url: postgresql://tracker@db.example.org:5432/t\n  password_env: TRACKER_DB_PW\n")
    unset = load_settings(path, env={})
    with pytest.raises(ConfigError, match=r"\$TRACKER_DB_PW, which is not set"):
        _ = unset.database_url
    assert "TRACKER_DB_PW (NOT SET, value hidden)" in str(unset.effective())
    settings = load_settings(path, env={"TRACKER_DB_PW": "s3cr/et"})
    monkeypatch.delenv("TRACKER_DB_PW", raising=False)  # read at load: a later change of the environment is moot
    assert settings.database_url == "postgresql://tracker:s3cr%2Fet@db.example.org:5432/t"
    shown = str(settings.effective())
    assert "s3cr" not in shown and "s3cr" not in repr(settings)
    assert "TRACKER_DB_PW (set, value hidden)" in shown


def test_a_password_written_into_the_url_is_masked_when_shown(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, "store:\n  url: postgresql://u:hunter2@h/db\n"), env={})
    assert "hunter2" not in str(settings.effective())
    assert "postgresql://u:***@h/db" in str(settings.effective())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('schedule:\n  cycle: {cron: "61 * * * *"}\n', "schedule.cycle: cron minute field '61': 61 is outside 0-59"),
        ('schedule:\n  report: {cron: "0 6 * * funday"}\n', "schedule.report: cron day-of-week field 'funday'"),
        ("store:\n  url: postgresql://u@db.example.org:99999/t\n", "store.url: has a port outside 1-65535"),
    ],
)
def test_a_bad_cron_or_port_fails_at_load_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(write(tmp_path, text), env={})


def test_a_home_that_cannot_be_created_fails_at_load_naming_the_key(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"home .*a-file/home cannot be created: .*a-file is a file"):
        load_settings(write(tmp_path, f"home: {blocker / 'home'}\n"), env={})
    with pytest.raises(ConfigError, match=r"\$TRACKER_HOME .*a-file is a file, not a folder"):
        load_settings(None, env={"TRACKER_HOME": str(blocker)})


def test_config_check_names_a_bad_cron_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = write(tmp_path, 'schedule:\n  cycle: {cron: "61 * * * *"}\n')
    result = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(config), "config", "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "61 is outside 0-59" in result.stderr
