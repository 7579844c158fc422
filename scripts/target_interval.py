#!/usr/bin/env python3
"""How precise a target F1 on a dev set is: a bootstrap interval over the texts of a predictions file.

Usage:
  tracker eval tracker/data/dev/en.csv --predictions /tmp/en.csv
  python scripts/target_interval.py /tmp/en.csv [--code IQG] [--draws 2000] [--line 0.80]

Resamples the texts with replacement (seeded), recomputes the code's F1 each time, and prints the F1 on all texts,
the 95% interval of the draws and the share of draws at or above `--line`.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys


def f1(pairs: list[tuple[bool, bool]]) -> float | None:
    """The code's F1; None where no text has it or is given it (a draw that says nothing about the code). The same
    F1 as `tracker eval` (evaluate_targets), in counts: its precision-recall form rounds a draw of exactly 0.80 to
    just under it, which would change the share of draws at the line."""
    tp = sum(g and p for g, p in pairs)
    wrong = sum(g != p for g, p in pairs)
    return 2 * tp / (2 * tp + wrong) if tp or wrong else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", help="a file written by `tracker eval FILE --predictions PATH`")
    parser.add_argument("--code", default="IQG")
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--line", type=float, default=0.80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        with open(args.predictions, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"{args.predictions}: cannot read it ({exc})", file=sys.stderr)
        return 2
    if not rows or not {"gold_targets", "targets"} <= set(rows[0]):
        hint = "write it with tracker eval FILE --predictions PATH"
        print(f"{args.predictions}: no gold_targets and targets columns; {hint}", file=sys.stderr)
        return 2
    pairs = [(args.code in r["gold_targets"].split(";"), args.code in r["targets"].split(";")) for r in rows]
    rng = random.Random(args.seed)
    whole = f1(pairs)
    if whole is None:
        print(f"{args.predictions}: no text has {args.code} or is given it; nothing to measure", file=sys.stderr)
        return 2
    sampled = (f1([pairs[rng.randrange(len(pairs))] for _ in pairs]) for _ in range(args.draws))
    draws = sorted(d for d in sampled if d is not None)
    low, high = draws[int(0.025 * len(draws))], draws[int(0.975 * len(draws)) - 1]
    share = sum(d >= args.line for d in draws) / len(draws)
    print(
        f"{args.code}: F1 {whole:.3f} on {len(pairs)} texts ({sum(g for g, _ in pairs)} with the code); "
        f"95% interval {low:.3f}-{high:.3f}; {share:.0%} of {len(draws)} draws at or above {args.line:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
