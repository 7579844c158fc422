"""The shipped models (the v1 English MiniLM head; the v2 multilingual e5 adapter and head) and `tracker eval`, as a
user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracker.config import load_settings
from tracker.config.sections import ENGLISH_V1
from tracker.pipeline.score import make_scorer, spec_of
from tracker.scoring.evaluation import evaluate
from tracker.scoring.lexicon import LexiconScorer, lexicon_level

REPO = Path(__file__).resolve().parents[1]
PLOVER = REPO.parent / "shared" / "data" / "plover" / "hostility.csv"


@pytest.fixture(scope="module")
def v1_scorer():  # type: ignore[no-untyped-def]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return make_scorer(load_settings(REPO / "config.yaml", env={}), spec_of(ENGLISH_V1))


def test_the_v1_model_puts_unambiguous_sentences_on_the_right_side(v1_scorer) -> None:  # type: ignore[no-untyped-def]
    calm = [
        "We thank our partners for their cooperation and welcome the agreement signed today.",
        "The ministry announced that schools will reopen on Sunday after the holiday.",
        "Both sides agreed to a ceasefire and called on their supporters to show restraint.",
    ]
    hostile = [
        "Our fighters attacked the American occupation base with drones this morning, hitting their targets.",
        "A roadside bomb struck a logistics convoy near Baghdad, killing two drivers, police said.",
        "We warn the occupiers: leave our land or you will pay a heavy price.",
    ]
    scores = v1_scorer.score_batch(calm + hostile)
    calm_scores, hostile_scores = scores[: len(calm)], scores[len(calm) :]
    assert all(s.level <= 1 for s in calm_scores), [s.level for s in calm_scores]
    assert all(s.level >= 3 for s in hostile_scores), [s.level for s in hostile_scores]
    assert max(s.hostility for s in calm_scores) < min(s.hostility for s in hostile_scores)
    assert v1_scorer.version.name == "minilm-hostility-v1"


def test_metrics_on_known_predictions() -> None:
    from tracker.scoring.base import score_from_probabilities

    def one_hot(level: int):  # type: ignore[no-untyped-def]
        return score_from_probabilities([1.0 if i == level else 0.0 for i in range(5)])

    labels = [0, 1, 2, 3, 4, 4]
    perfect = evaluate(labels, [one_hot(v) for v in labels])
    assert (perfect.accuracy, perfect.macro_f1, perfect.qwk, perfect.auc_hostile) == (1.0, 1.0, 1.0, 1.0)
    assert perfect.confusion[4][4] == 2
    off = evaluate(labels, [one_hot(4 - v) for v in labels])
    assert off.qwk < 0 and off.spearman < 0 and off.auc_hostile is not None and off.auc_hostile < 0.5


def test_the_lexicon_baseline() -> None:
    assert lexicon_level("Rockets struck the base at dawn.") == 4
    assert lexicon_level("We warn the occupiers.") == 3
    assert lexicon_level("The party condemned the decision.") == 2
    assert lexicon_level("We thank our partners.") == 0
    assert lexicon_level("The minister visited Basra.") == 1
    assert [s.level for s in LexiconScorer().score_batch(["Death to America"])] == [3]


@pytest.mark.skipif(not PLOVER.is_file(), reason=f"{PLOVER} not found (shared development data)")
def test_tracker_eval_prints_all_metrics_and_the_baseline() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "tracker", "--config", str(REPO / "config.yaml"), "eval", str(PLOVER)]
    as_json = subprocess.run([*cmd, "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    for key in ("accuracy", "macro_f1", "qwk", "spearman", "auc_hostile", "n", "confusion", "baseline"):
        assert key in data
    assert data["n"] == 247
    assert data["auc_hostile"] > data["baseline"]["auc_hostile"]
    table = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert table.returncode == 0
    assert "lexicon" in table.stdout and "qwk" in table.stdout and "confusion" in table.stdout


def test_tracker_eval_on_a_bad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello,7\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "tracker", "--config", str(REPO / "config.yaml"), "eval", str(bad)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "label must be 0-4, got '7'" in result.stderr and "Traceback" not in result.stderr


def test_train_then_eval_from_the_command_line(tmp_path: Path, tiny_encoder: Path) -> None:
    import csv

    from tracker.pipeline.train import seed_dir

    rows = []
    for level in range(5):
        with open(seed_dir() / f"level_{level}.csv", encoding="utf-8", newline="") as fh:
            rows += [(r["text"], level, r["register"]) for r in list(csv.DictReader(fh))[:12]]
    data = tmp_path / "small.csv"
    with data.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label", "register"])
        writer.writerows(rows)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRACKER_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "tracker", "--config", str(REPO / "config.yaml")]
    out = tmp_path / "head"
    trained = subprocess.run(
        [*cmd, "train", "--method", "head", "--data", str(data), "--encoder", str(tiny_encoder), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stderr
    # stratified by (level, register), 20% of each group held out: 10 of the 60 texts
    assert "held-out (10 texts)" in trained.stdout
    meta = json.loads((out / "head.json").read_text())
    assert meta["encoder"] == str(tiny_encoder) and meta["train_size"] == 50 and meta["seed"] == 13
    evaluated = subprocess.run(
        [*cmd, "eval", str(data), "--model", str(out), "--json"], capture_output=True, text=True, env=env, timeout=600
    )
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)
    assert metrics["n"] == 60 and metrics["model"].startswith("head@")
