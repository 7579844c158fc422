#!/usr/bin/env python3
"""Check labeled CSV files against tracker/data/LABELING.md and print counts.

Usage: python3 scripts/data/check_labeled.py FILE_OR_DIR [...] [--lang ar|en]
Exit 1 with file:line messages when a row breaks the format.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import unicodedata
from collections import Counter
from pathlib import Path

CODES = {"US", "ISR", "IQG", "TUR", "KRG", "GULF", "IRN", "UK", "FAC", "OTHER", "NONE"}
REGISTERS = {"statement", "news"}
GENRES = {"bayan", "telegram", "slogan", "dialect", "official", "news", "wire"}
TOPICS = {"iraq", "syria", "region", "world", "sports", "economy", "society"}
HARD = {
    "negation",
    "reported_speech",
    "denial",
    "violent_metaphor",
    "past_event_recalled",
    "conditional_threat",
    "veiled_threat",
    "threat_denying_intent",
    "call_for_calm_after_attack",
    "deescalation",
    "truce",
    "sarcasm",
    "religious_formula",
    "martyr_notice_new",
    "martyr_notice_old",
    "nonviolent_targeting",
    "naming_without_threat",
    "sports",
    "markets",
    "protest_arrest_sanction",
}
ARABIC = re.compile(r"[\u0600-\u06FF]")
LATIN = re.compile(r"[A-Za-z]")


def norm(t: str) -> str:
    t = unicodedata.normalize("NFKC", t).lower()
    return re.sub(r"\W+", " ", t).strip()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--lang", choices=["ar", "en"])
    args = ap.parse_args()
    files: list[Path] = []
    for p in args.paths:
        files.extend(sorted(p.glob("*.csv")) if p.is_dir() else [p])
    errors: list[str] = []
    levels: Counter[int] = Counter()
    regs: Counter[str] = Counter()
    hard = 0
    tcount: Counter[str] = Counter()
    seen: dict[str, str] = {}
    n = 0
    for f in files:
        with open(f, encoding="utf-8", newline="") as fh:
            r = csv.DictReader(fh)
            for col in ("text", "label", "register", "targets"):
                if col not in (r.fieldnames or []):
                    errors.append(f"{f}: missing column {col}")
            for row in r:
                where = f"{f}:{r.line_num}"
                n += 1
                text = (row.get("text") or "").strip()
                if not text:
                    errors.append(f"{where}: empty text")
                    continue
                if "\n" in text:
                    errors.append(f"{where}: line break inside text")
                key = norm(text)
                if key in seen:
                    errors.append(f"{where}: duplicate of {seen[key]}")
                seen[key] = where
                if args.lang == "ar" and len(ARABIC.findall(text)) < 0.5 * len(LATIN.findall(text)) + 5:
                    errors.append(f"{where}: not Arabic")
                if args.lang == "en" and ARABIC.search(text):
                    errors.append(f"{where}: Arabic letters in an English text")
                lab = (row.get("label") or "").strip()
                if lab not in {"0", "1", "2", "3", "4"}:
                    errors.append(f"{where}: label must be 0-4, got {lab!r}")
                else:
                    levels[int(lab)] += 1
                reg = (row.get("register") or "").strip()
                if reg not in REGISTERS:
                    errors.append(f"{where}: register must be statement|news, got {reg!r}")
                regs[reg] += 1
                g = (row.get("genre") or "").strip()
                if "genre" in row and g not in GENRES:
                    errors.append(f"{where}: genre {g!r} not in {sorted(GENRES)}")
                tp = (row.get("topic") or "").strip()
                if "genre" in row and tp not in TOPICS:
                    errors.append(f"{where}: topic {tp!r} not in {sorted(TOPICS)}")
                h = (row.get("hard_case") or "").strip()
                if h:
                    hard += 1
                    if "genre" in row and h not in HARD:
                        errors.append(f"{where}: hard_case {h!r} not in the list")
                codes = [c.strip() for c in (row.get("targets") or "").split(";") if c.strip()]
                if not codes:
                    errors.append(f"{where}: targets empty (use NONE)")
                bad = [c for c in codes if c not in CODES]
                if bad:
                    errors.append(f"{where}: unknown target code(s) {bad}")
                if "NONE" in codes and len(codes) > 1:
                    errors.append(f"{where}: NONE combined with other codes")
                if len(set(codes)) != len(codes):
                    errors.append(f"{where}: repeated target code")
                for c in codes:
                    tcount[c] += 1
    for e in errors[:200]:
        print(e)
    print(f"{len(errors)} error(s)" if errors else "format OK")
    print(
        f"rows {n}; levels {dict(sorted(levels.items()))}; registers {dict(regs)}; "
        f"hard cases {hard} ({hard / max(n, 1):.0%}); targets {dict(tcount.most_common())}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
