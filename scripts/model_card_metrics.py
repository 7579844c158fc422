#!/usr/bin/env python3
"""The numbers in docs/model-card.md, measured: per language and register on the dev sets, parallel-pair
agreement, hard cases, the English held-out set, PLOVER, and the v1 model beside it.

Usage: python scripts/model_card_metrics.py [--model NAME_OR_FOLDER] [--plover PATH]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def table_row(name: str, m: Any) -> str:
    """One row of the card's levels table."""
    return (
        f"| {name} | {m.n} | {m.accuracy:.3f} | {m.macro_f1:.3f} | {m.qwk:.3f} | {m.spearman:.3f} | "
        f"{m.auc_hostile:.3f} |"
    )


def main() -> int:
    sys.path.insert(0, str(REPO))
    from tracker.config import load_settings
    from tracker.pipeline.score import make_scorer, pick_model
    from tracker.pipeline.train import dev_files, evaluate_file
    from tracker.scoring.evaluation import evaluate

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--plover", type=Path, default=REPO.parent / "shared" / "data" / "plover" / "hostility.csv")
    args = ap.parse_args()
    settings = load_settings(REPO / "config.yaml")
    scorer = make_scorer(settings, pick_model(settings, args.model))
    print(f"model: {scorer.version}\n")
    print("| set | n | accuracy | macro-F1 | QWK | Spearman | AUC (level >= 3) |")
    print("|---|---|---|---|---|---|---|")
    results = {}
    for lang, path in dev_files().items():
        res = evaluate_file(path, scorer)
        results[lang] = (res, rows_of(path))
        print(table_row(f"dev {lang}", res.metrics))
        groups: dict[str, list[int]] = defaultdict(list)
        for i, row in enumerate(results[lang][1]):
            groups[f"{lang} {row['register']}"].append(i)
            if row.get("hard_case"):
                groups[f"{lang} hard cases"].append(i)
            else:
                groups[f"{lang} plain"].append(i)
        for name, idx in sorted(groups.items()):
            sub = evaluate([res.examples[i].label for i in idx], [res.scores[i] for i in idx])
            print(table_row(name, sub))
    heldout = REPO / "tracker" / "data" / "heldout" / "en.csv"
    if heldout.is_file():  # the English held-out set: measured, never used to choose
        print(table_row("held-out en", evaluate_file(heldout, scorer).metrics))
    if args.plover.is_file():
        print(table_row("PLOVER (real news)", evaluate_file(args.plover, scorer).metrics))
    # parallel pairs: the same level in both languages?
    level = {}
    for lang, (res, rows) in results.items():
        for row, sc in zip(rows, res.scores, strict=True):
            if row.get("pair_id"):
                level[(lang, row["pair_id"])] = (sc.level, int(row["label"]))
    pairs = sorted({pid for _, pid in level})
    same = sum(level[("ar", p)][0] == level[("en", p)][0] for p in pairs)
    within = sum(abs(level[("ar", p)][0] - level[("en", p)][0]) <= 1 for p in pairs)
    print(f"\nparallel pairs: {len(pairs)}; same level in both languages {same} ({same / len(pairs):.1%}); "
          f"within one level {within} ({within / len(pairs):.1%})")  # fmt: skip
    for lang, (res, _) in results.items():
        print(f"\nconfusion dev {lang} (rows gold 0-4, columns predicted):")
        for gold, row in enumerate(res.metrics.confusion):
            print(f"  {gold}: " + " ".join(f"{n:>4}" for n in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
