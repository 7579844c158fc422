"""Scoring documents in the store: detect languages, pick the model per language, score in chunks.

Each chunk's scores are written in one transaction, so a killed run loses at most the chunk in flight and a
rerun scores every document exactly once. Texts already scored under the same model version (reposts) reuse
that score. Documents in a language with no configured model are recorded as unscored, with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from tracker.models import Score
from tracker.progress import ProgressFactory, no_progress
from tracker.scoring.base import Scorer, score_texts
from tracker.storage import Store

log = logging.getLogger(__name__)

Detect = Callable[[Sequence[str]], list[str | None]]


@dataclass
class ScoreSummary:
    """What one scoring pass did."""

    detected: int = 0
    scored: int = 0
    reused: int = 0
    texts: int = 0
    windowed: int = 0
    models: dict[str, int] = field(default_factory=dict)
    unscored: dict[str, int] = field(default_factory=dict)

    def as_counts(self) -> dict[str, int]:
        return {
            "detected_languages": self.detected,
            "scored": self.scored,
            "reused": self.reused,
            "texts": self.texts,
            "windowed": self.windowed,
            "unscored": sum(self.unscored.values()),
        }


def detect_languages(store: Store, detect: Detect, chunk_size: int = 2000) -> int:
    """Fill in the language of documents that came without one; returns how many were set."""
    done = 0
    for chunk in store.iter_missing_language(chunk_size):
        found = detect([text for _, text in chunk])
        pairs = [(doc_id, lang or "und") for (doc_id, _), lang in zip(chunk, found, strict=True)]
        store.set_detected_languages(pairs)
        done += len(pairs)
    return done


def score_store(
    store: Store,
    scorers: Mapping[str, Scorer],
    *,
    now: datetime,
    rescore: bool = False,
    chunk_size: int = 1024,
    detect: Detect | None = None,
    progress: ProgressFactory = no_progress,
) -> ScoreSummary:
    """Score every document not yet scored (with `rescore`: not yet scored by the current model version)."""
    summary = ScoreSummary()
    if detect is not None and store.count_missing_language():
        summary.detected = detect_languages(store, detect)
    for language, scorer in scorers.items():
        version = str(scorer.version)
        total = store.count_to_score(language, version, rescore)
        if total == 0:
            continue  # nothing to do: the model is never loaded
        store.register_model(version, scorer.version.name, scorer.version.digest, {"language": language}, now)
        bar = progress(f"score [{language}] {version}", total, "docs")
        try:
            for chunk in store.iter_to_score(language, version, rescore, chunk_size):
                _score_chunk(store, scorer, version, chunk, now, summary)
                bar.update(len(chunk))
        finally:
            bar.close()
        summary.models[version] = summary.models.get(version, 0) + total
    store.mark_unscored(list(scorers), now)
    summary.unscored = store.unscored_counts()
    return summary


def _score_chunk(
    store: Store,
    scorer: Scorer,
    version: str,
    chunk: list[tuple[str, str, str]],
    now: datetime,
    summary: ScoreSummary,
) -> None:
    known = store.scores_for_hashes(sorted({h for _, _, h in chunk}), version)
    todo = [(doc_id, text, h) for doc_id, text, h in chunk if h not in known]
    results = score_texts(scorer, [text for _, text, _ in todo])
    fresh = {h: r for (_, _, h), r in zip(todo, results, strict=True)}
    rows: list[Score] = []
    for doc_id, _, h in chunk:
        if h in known:
            k = known[h]
            rows.append(Score(doc_id, version, k.level, k.hostility, k.probabilities, now))
            summary.reused += 1
        else:
            r = fresh[h]
            rows.append(Score(doc_id, version, r.level, r.hostility, r.probabilities, now))
            summary.scored += 1
    summary.texts += len(fresh)
    summary.windowed += sum(1 for r in fresh.values() if r.windows > 1)
    store.save_scores(rows)
