"""Training and evaluating the default head: the seed set, a seeded held-out split, a logistic-regression head
on frozen sentence embeddings. Rows may carry `targets` (codes joined by ";", tracker/data/LABELING.md)."""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import SourceError
from tracker.scoring.base import TARGET_CODES

SEED_COLUMNS = ("text", "label")


@dataclass(frozen=True)
class Example:
    text: str
    label: int
    register: str = ""
    topic: str = ""
    hard_case: str = ""
    targets: tuple[str, ...] = ()  # codes from TARGET_CODES, primary first; () where the file has none


def parse_targets(value: str) -> tuple[str, ...]:
    """ "US;IQG" -> ("US", "IQG"); "" -> (). Raises ValueError naming an unknown code."""
    codes = tuple(c.strip().upper() for c in value.split(";") if c.strip())
    unknown = [c for c in codes if c not in TARGET_CODES]
    if unknown:
        raise ValueError(f"unknown target code(s) {', '.join(unknown)}; use {', '.join(TARGET_CODES)}")
    return tuple(dict.fromkeys(codes))


def load_labeled(paths: Sequence[Path]) -> list[Example]:
    """Labeled texts from CSV files (or folders of them) with columns text,label (0-4) and optionally targets."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.csv")) if p.is_dir() else [p])
    if not files:
        raise SourceError(f"no labeled CSV files in {', '.join(map(str, paths))}")
    examples: list[Example] = []
    for f in files:
        try:
            with open(f, encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh)
                missing = [c for c in SEED_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise SourceError(f"{f}: missing column(s) {', '.join(missing)}; need text,label (0-4)")
                for row in reader:
                    label = (row.get("label") or "").strip()
                    if label not in {"0", "1", "2", "3", "4"}:
                        raise SourceError(f"{f}:{reader.line_num}: label must be 0-4, got {label!r}")
                    text = (row.get("text") or "").strip()
                    if not text:
                        raise SourceError(f"{f}:{reader.line_num}: empty text")
                    try:
                        targets = parse_targets(row.get("targets") or "")
                    except ValueError as exc:
                        raise SourceError(f"{f}:{reader.line_num}: {exc}") from None
                    extra = (row.get("register", ""), row.get("topic", ""), row.get("hard_case", ""))
                    examples.append(Example(text, int(label), *extra, targets=targets))
        except UnicodeDecodeError:
            raise SourceError(f"{f}: not valid UTF-8; re-save it as UTF-8") from None
        except OSError as exc:
            raise SourceError(f"{f}: cannot read ({exc.strerror})") from None
    return examples


def split_holdout(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A seeded split, stratified by (label, register), so the held-out part mirrors the whole."""
    groups: dict[tuple[int, str], list[Example]] = {}
    for ex in examples:
        groups.setdefault((ex.label, ex.register), []).append(ex)
    rng = random.Random(seed)
    train: list[Example] = []
    held: list[Example] = []
    for key in sorted(groups):
        items = list(groups[key])
        rng.shuffle(items)
        k = round(len(items) * fraction)
        held.extend(items[:k])
        train.extend(items[k:])
    return train, held
