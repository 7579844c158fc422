#!/usr/bin/env python3
"""Markdown tables of the labeled data: counts per level, register, genre, hard cases and target, per set.

Usage: python3 scripts/data/summarize.py   (run from the repository root; prints to stdout)
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

CODES = ("US", "ISR", "IQG", "TUR", "KRG", "GULF", "IRN", "UK", "FAC", "OTHER", "NONE")
SETS = {
    "English seed v1 (`seed/`)": "tracker/data/seed/*.csv",
    "English additions (`seed_en_extra/`)": "tracker/data/seed_en_extra/*.csv",
    "Arabic seed (`seed_ar/`)": "tracker/data/seed_ar/*.csv",
    "World wire, English (`seed_world/en-w.csv`)": "tracker/data/seed_world/en-w.csv",
    "World wire, Arabic (`seed_world/ar-w.csv`)": "tracker/data/seed_world/ar-w.csv",
    "Government targets, English (`seed_targets/en-t.csv`)": "tracker/data/seed_targets/en-t.csv",
    "Government targets, Arabic (`seed_targets/ar-t.csv`)": "tracker/data/seed_targets/ar-t.csv",
    "Speaker vs target, English (`seed_roles/en-r*.csv`)": "tracker/data/seed_roles/en-r*.csv",
    "Speaker vs target, Arabic (`seed_roles/ar-r*.csv`)": "tracker/data/seed_roles/ar-r*.csv",
    "The Iraqi state in natural genres, English (`seed_state/en-s*.csv`)": "tracker/data/seed_state/en-s*.csv",
    "The Iraqi state in natural genres, Arabic (`seed_state/ar-s*.csv`)": "tracker/data/seed_state/ar-s*.csv",
    "Governments as speakers and targets, English (`seed_govt/en-g*.csv`)": "tracker/data/seed_govt/en-g*.csv",
    "Governments as speakers and targets, Arabic (`seed_govt/ar-g*.csv`)": "tracker/data/seed_govt/ar-g*.csv",
    "Arabic dev (`dev/ar.csv`)": "tracker/data/dev/ar.csv",
    "English dev (`dev/en.csv`)": "tracker/data/dev/en.csv",
    "English held-out (`heldout/en.csv`)": "tracker/data/heldout/en.csv",
}


def rows(pattern: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for f in sorted(Path().glob(pattern)):
        with open(f, encoding="utf-8", newline="") as fh:
            out.extend(csv.DictReader(fh))
    return out


def main() -> None:
    data = {name: rows(p) for name, p in SETS.items()}
    print("| set | texts | level 0 | 1 | 2 | 3 | 4 | statement | news | hard cases | parallel pairs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, rs in data.items():
        lv = Counter(r["label"] for r in rs)
        reg = Counter(r["register"] for r in rs)
        hard = sum(1 for r in rs if r.get("hard_case"))
        pairs = len({r["pair_id"] for r in rs if r.get("pair_id")})
        print(
            f"| {name} | {len(rs):,} | "
            + " | ".join(str(lv[str(i)]) for i in range(5))
            + f" | {reg['statement']:,} | {reg['news']:,} | {hard:,} ({hard / len(rs):.0%}) | {pairs or '-'} |"
        )
    print()
    print("Texts carrying each target code (a text with several codes counts under each):")
    print()
    print("| set | " + " | ".join(CODES) + " |")
    print("|---|" + "---|" * len(CODES))
    for name, rs in data.items():
        tc = Counter(c for r in rs for c in r["targets"].split(";"))
        print(f"| {name} | " + " | ".join(str(tc[c]) for c in CODES) + " |")
    print()
    print("Genres (sets written with a genre column):")
    print()
    genres = ("bayan", "telegram", "slogan", "dialect", "official", "news", "wire")
    print("| set | " + " | ".join(genres) + " |")
    print("|---|" + "---|" * len(genres))
    for name, rs in data.items():
        if rs and "genre" in rs[0]:
            g = Counter(r["genre"] for r in rs)
            print(f"| {name} | " + " | ".join(str(g[x]) for x in genres) + " |")


if __name__ == "__main__":
    main()
