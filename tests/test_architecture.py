"""The house rules that `make lint` checks beside import-linter: module size and who may read the clock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "check_architecture.py"


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, timeout=60)


def test_the_repository_keeps_the_rules() -> None:
    result = check(REPO)
    assert result.returncode == 0, result.stdout


def test_a_long_module_and_a_clock_read_below_the_shells_are_named(tmp_path: Path) -> None:
    (tmp_path / "tracker" / "pipeline").mkdir(parents=True)
    (tmp_path / "tracker" / "cli").mkdir()
    (tmp_path / "tracker" / "big.py").write_text("x = 1\n" * 401, encoding="utf-8")
    (tmp_path / "tracker" / "pipeline" / "stage.py").write_text(
        "import datetime as dt\nfrom datetime import date\n\n\ndef f():\n    return dt.datetime.now(), date.today()\n",
        encoding="utf-8",
    )
    (tmp_path / "tracker" / "cli" / "app.py").write_text(
        "from datetime import UTC, datetime\nNOW = datetime.now(UTC)\n", encoding="utf-8"
    )
    result = check(tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "tracker/big.py: 401 lines, over 400; split it by responsibility" in lines
    assert sum("tracker/pipeline/stage.py:6: reads the clock" in line for line in lines) == 2
    assert not any("cli/app.py" in line for line in lines)  # the shells may
