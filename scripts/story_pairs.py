#!/usr/bin/env python3
"""Measure story grouping on the labeled pair set (tracker/data/stories/pairs.csv): precision, recall and F1 of
"b joins a's story" as the stories stage decides (a MinHash LSH candidate, then the rule), per split, language
and relation. Thresholds are chosen on `tune`; report `test`.

Usage: python scripts/story_pairs.py [--split tune|test|all]
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

from tracker.pipeline.stories import StorySettings, joins_story
from tracker.stories import pair_metrics

PAIRS = Path(__file__).resolve().parents[1] / "tracker" / "data" / "stories" / "pairs.csv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["tune", "test", "all"], default="test")
    args = ap.parse_args()
    settings = StorySettings()
    with PAIRS.open(encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if args.split in ("all", r["split"])]
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for r in rows:
        outcome = (joins_story(r["text_a"], r["text_b"], settings), r["same_story"] == "1")
        for key in ("all", f"language={r['language']}", f"relation={r['relation']}"):
            groups[key].append(outcome)
    print(f"split={args.split} rule={settings.rule} lsh_threshold={settings.lsh_threshold}")
    print(f"{'group':<24} {'pairs':>5} {'prec':>6} {'recall':>6} {'f1':>6} {'tp':>4} {'fp':>4} {'fn':>4}")
    for key in sorted(groups, key=lambda k: (k != "all", k)):
        pred, gold = zip(*groups[key], strict=True)
        m = pair_metrics(pred, gold)
        print(
            f"{key:<24} {len(pred):>5} {m['precision']:>6.3f} {m['recall']:>6.3f} {m['f1']:>6.3f} "
            f"{m['tp']:>4.0f} {m['fp']:>4.0f} {m['fn']:>4.0f}"
        )


if __name__ == "__main__":
    main()
