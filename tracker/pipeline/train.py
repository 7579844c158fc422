"""Stages `train` and `eval`: fit the default model's head on labeled texts, and measure a model on a file."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from tracker.config import Settings
from tracker.pipeline.score import DEFAULT_ENCODER, make_scorer, pick_model
from tracker.scoring.base import ModelSpec, Scorer, TextScore, score_from_probabilities
from tracker.scoring.evaluation import Metrics, evaluate
from tracker.scoring.lexicon import LexiconScorer
from tracker.scoring.training import Example, load_labeled, split_holdout
from tracker.scoring.transformer import save_head

log = logging.getLogger(__name__)

C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def seed_dir() -> Path:
    """The labeled seed set shipped with the package."""
    return Path(str(resources.files("tracker") / "data" / "seed"))


@dataclass(frozen=True)
class EvalResult:
    path: str
    model: str
    metrics: Metrics
    baseline: Metrics

    def as_dict(self) -> dict[str, Any]:
        return {**self.metrics.as_dict(), "model": self.model, "file": self.path, "baseline": self.baseline.as_dict()}


def evaluate_file(path: Path, scorer: Scorer) -> EvalResult:
    """Metrics of a scorer and of the keyword baseline on a text,label file."""
    examples = load_labeled([path])
    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    scores = scorer.score_batch(texts)
    baseline = LexiconScorer().score_batch(texts)
    return EvalResult(str(path), str(scorer.version), evaluate(labels, scores), evaluate(labels, baseline))


def evaluate_model(settings: Settings, path: Path, model: str | None = None) -> EvalResult:
    """Metrics of the chosen model and of the keyword baseline on a labeled file."""
    return evaluate_file(path, make_scorer(settings, pick_model(settings, model)))


@dataclass(frozen=True)
class TrainResult:
    out: Path
    train_size: int
    holdout_size: int
    c: float
    holdout: Metrics | None
    seconds: float


def _fingerprint(examples: list[Example]) -> str:
    h = hashlib.sha256()
    for e in examples:
        h.update(f"{e.label}\t{e.text}\n".encode())
    return h.hexdigest()[:16]


def train_head(
    settings: Settings,
    *,
    data: list[Path],
    out: Path,
    encoder: str = DEFAULT_ENCODER,
    seed: int = 13,
    holdout: float = 0.2,
    now: datetime,
) -> TrainResult:
    """Fit a logistic-regression head on frozen sentence embeddings of the seed set (seeded, minutes on a CPU);
    C is chosen by 5-fold cross-validation on the training part; the held-out part is only used to report."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    start = time.perf_counter()
    examples = load_labeled(data)
    train, held = split_holdout(examples, holdout, seed) if holdout > 0 else (examples, [])
    spec = ModelSpec("encoder", "encoder_head", encoder)
    embedder = make_scorer(settings, spec)
    x_train = embedder.embed([e.text for e in train]).numpy()
    y_train = np.array([e.label for e in train])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    best_c, best_f1 = C_GRID[0], -1.0
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
        pred = cross_val_predict(clf, x_train, y_train, cv=folds)
        f1 = float(f1_score(y_train, pred, average="macro"))
        log.info("C=%g: cross-validated macro-F1 %.3f", c, f1)
        if f1 > best_f1:
            best_c, best_f1 = c, f1
    clf = LogisticRegression(C=best_c, max_iter=5000, class_weight="balanced").fit(x_train, y_train)
    held_metrics = None
    if held:
        x_held = embedder.embed([e.text for e in held]).numpy()
        probs = clf.predict_proba(x_held)
        held_scores: list[TextScore] = [score_from_probabilities(p) for p in probs]
        held_metrics = evaluate([e.label for e in held], held_scores)
    meta = {
        "name": out.name,
        "encoder": encoder,
        "pooling": "mean, L2-normalised",
        "classifier": "multinomial logistic regression, class_weight=balanced",
        "C": best_c,
        "cv_macro_f1": round(best_f1, 4),
        "seed": seed,
        "holdout_fraction": holdout,
        "train_size": len(train),
        "holdout_size": len(held),
        "seed_set_fingerprint": _fingerprint(examples),
        "holdout_metrics": held_metrics.as_dict() if held_metrics else None,
        "trained_at": now.isoformat(timespec="seconds"),
    }
    save_head(out, clf.coef_, clf.intercept_, meta)
    return TrainResult(out, len(train), len(held), best_c, held_metrics, time.perf_counter() - start)


def train(
    settings: Settings,
    *,
    data: list[Path],
    out: Path | None,
    seed: int,
    holdout: float,
    now: datetime,
    encoder: str | None = None,
) -> TrainResult:
    """Train the default head on the seed set (or given files) into the model cache (or `out`)."""
    return train_head(
        settings,
        encoder=encoder or DEFAULT_ENCODER,
        data=data or [seed_dir()],
        out=out or settings.models_dir / "minilm-hostility",
        seed=seed,
        holdout=holdout,
        now=now,
    )
