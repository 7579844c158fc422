#!/usr/bin/env python3
"""Agreement between the first labels and the blind second annotation of a random 10% sample.

Usage: python3 scripts/data/agreement.py [tracker/data/relabel/sample.csv]
The sample holds each text's first label and targets (as written) and the second annotator's, made without
seeing the first. Prints QWK on levels (all, per language), exact agreement, and Cohen's kappa per target code
(is the code among the text's targets or not). Needs scikit-learn (installed with tracker).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter

from sklearn.metrics import cohen_kappa_score

CODES = ("US", "ISR", "IQG", "TUR", "KRG", "GULF", "IRN", "UK", "FAC", "OTHER", "NONE")


def main(path: str) -> None:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    print(f"{len(rows)} texts relabeled blind")
    for lang in ("all", "ar", "en"):
        sel = [r for r in rows if lang == "all" or r["lang"] == lang]
        a = [int(r["first_label"]) for r in sel]
        b = [int(r["second_label"]) for r in sel]
        qwk = cohen_kappa_score(a, b, weights="quadratic")
        exact = sum(x == y for x, y in zip(a, b, strict=True)) / len(sel)
        print(f"levels [{lang}] n={len(sel)}: QWK {qwk:.3f}, exact agreement {exact:.1%}")
    print()
    print("| code | first | second | both | Cohen's kappa |")
    print("|---|---|---|---|---|")
    for code in CODES:
        a = [code in r["first_targets"].split(";") for r in rows]
        b = [code in r["second_targets"].split(";") for r in rows]
        both = sum(x and y for x, y in zip(a, b, strict=True))
        print(f"| {code} | {sum(a)} | {sum(b)} | {both} | {cohen_kappa_score(a, b):.3f} |")
    same = sum(set(r["first_targets"].split(";")) == set(r["second_targets"].split(";")) for r in rows)
    print(f"\nsame set of targets: {same} of {len(rows)} ({same / len(rows):.1%})")
    moves = Counter(f"{r['first_label']}->{r['second_label']}" for r in rows if r["first_label"] != r["second_label"])
    print("level disagreements (first -> second):", dict(moves.most_common()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tracker/data/relabel/sample.csv")
