"""`tracker models` and `tracker eval --predictions`, as a user runs them, on a tiny model built here."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from tracker.language import LanguageDetector


def tracker(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_HOME", None)
    cmd = [sys.executable, "-m", "tracker", "--config", str(config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def config_for(tmp_path: Path, encoder: Path, head: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\n"
        "scoring:\n  precision: fp32\n  models:\n"
        f"    en: &m\n      name: tiny-multi\n      path: {encoder}\n      head: {head}\n"
        "    ar: *m\n",
        encoding="utf-8",
    )
    return config


def test_models_lists_each_model_once_with_its_languages_folders_and_version(
    tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    result = tracker(config_for(tmp_path, tiny_encoder, tiny_head), "models", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert row["name"] == "tiny-multi" and row["languages"] == ["en", "ar"]
    assert row["encoder_dir"] == str(tiny_encoder) and row["head"] == str(tiny_head)
    assert row["version"].startswith("tiny-multi@") and row["adapter"] is None
    table = tracker(config_for(tmp_path, tiny_encoder, tiny_head), "models")
    assert table.returncode == 0 and "encoder_dir" in table.stdout and "(en, ar)" in table.stdout


def test_eval_writes_every_rows_probabilities_in_input_order(
    tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    data = tmp_path / "labeled.csv"
    texts = ["our fighters attacked the base", "we thank the government", "the minister said", "death to america"]
    with data.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows([(t, i % 5) for i, t in enumerate(texts)])
    out = tmp_path / "pred" / "predictions.csv"
    result = tracker(config_for(tmp_path, tiny_encoder, tiny_head), "eval", str(data), "--predictions", str(out))
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == texts and [r["row"] for r in rows] == ["1", "2", "3", "4"]
    for r in rows:
        probs = [float(r[f"p{i}"]) for i in range(5)]
        assert abs(sum(probs) - 1) < 1e-4
        assert int(r["level"]) == max(range(5), key=lambda i: probs[i])
        assert abs(float(r["hostility"]) - sum(i * p for i, p in enumerate(probs)) / 4) < 1e-4
        # no targets column in the file, no target head in the model: the target columns are there, empty
        assert r["gold_targets"] == r["targets"] == r["t_US"] == ""


def test_a_language_with_a_model_wins_a_near_tie() -> None:
    slogan = "No to normalisation, no to occupation, no to the embassy's tutelage."
    detector = LanguageDetector(["en", "ar", "fr"])
    assert detector.detect([slogan]) == ["fr"]  # lingua alone: the demo's slogan looks French
    assert detector.detect([slogan], prefer=["en", "ar"]) == ["en"]
    assert detector.detect(["Nous refusons toute présence militaire étrangère sur notre sol."], prefer=["en"]) == ["fr"]
