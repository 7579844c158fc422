#!/usr/bin/env python3
"""How well two blind readings of the targets agree, from a record of both (tracker/data/relabel/).

Usage: python3 scripts/data/reading_agreement.py RECORD.csv [RECORD.csv ...]
A record holds, per text, the first targets (`first`, or `original` in dev_targets.csv) and the second, blind
reading (`second`), codes joined by ";". Prints, per record, the F1 of the second reading against the first for
each code and over all codes (micro), the texts whose sets of codes are equal, and whom the third reader sided with
where the sets differed (`sided_with`, when the record has it).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter

CODES = ("US", "ISR", "IQG", "TUR", "KRG", "GULF", "IRN", "UK", "FAC", "OTHER", "NONE")


def codes_of(cell: str) -> set[str]:
    return {c.strip() for c in cell.split(";") if c.strip()}


def agreement(pairs: list[tuple[set[str], set[str]]]) -> dict[str, float]:
    """F1 of the second reading against the first, per code and micro over all codes."""
    out: dict[str, float] = {}
    for code in (*CODES, "micro"):
        wanted = set(CODES) if code == "micro" else {code}
        tp = sum(len(a & b & wanted) for a, b in pairs)
        fp = sum(len((b - a) & wanted) for a, b in pairs)
        fn = sum(len((a - b) & wanted) for a, b in pairs)
        out[code] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return out


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__)
        return 2
    for path in paths:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        first = "first" if rows and "first" in rows[0] else "original"
        if not rows or first not in rows[0] or "second" not in rows[0]:
            print(f"{path}: needs the columns first (or original) and second")
            return 1
        pairs = [(codes_of(r[first]), codes_of(r["second"])) for r in rows]
        f1 = agreement(pairs)
        same = sum(a == b for a, b in pairs)
        print(f"{path}: {len(rows)} texts, the same set of codes on {same} ({same / len(rows):.1%})")
        scores = ", ".join(f"{c} {f1[c]:.3f}" for c in (*CODES, "micro"))
        print(f"  F1 of the second reading against the first: {scores}")
        sided = Counter(r["sided_with"] for r in rows if r.get("sided_with") and r["sided_with"] != "agree")
        if sided:
            print("  the third reader sided with: " + ", ".join(f"{k} {v}" for k, v in sided.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
