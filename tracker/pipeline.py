"""Use-cases: wire the pure core to the adapters. Every edge (store, clock, progress) is passed in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.config import Settings
from tracker.errors import TrackerError
from tracker.models import Document, IngestSummary, RowError
from tracker.progress import NullProgress, Progress
from tracker.scoring.base import Scorer
from tracker.scoring.service import ScoreSummary, score_store
from tracker.sources.files import list_files, read_rows
from tracker.sources.rows import RowOptions, parse_row
from tracker.storage import Store

if TYPE_CHECKING:
    from tracker.scoring.usecases import EvalResult, TrainResult

log = logging.getLogger(__name__)

ProgressFactory = Callable[[str, int | None, str], Progress]
MAX_KEPT_ERRORS = 1000


def _no_progress(desc: str, total: int | None, unit: str) -> Progress:
    return NullProgress()


def open_store(settings: Settings) -> Store:
    """Open the configured store (SQLite in the tracker home unless store.url says otherwise)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.database_url)


def row_options(settings: Settings, source: str | None = None) -> RowOptions:
    ing = settings.ingest
    return RowOptions(
        timezone=ing.timezone,
        date_formats=ing.date_formats,
        max_text_chars=ing.max_text_chars,
        columns=dict(ing.columns),
        source=source,
    )


def ingest_paths(
    store: Store,
    paths: Iterable[str | Path],
    options: RowOptions,
    *,
    now: datetime,
    batch_size: int = 1000,
    progress: ProgressFactory = _no_progress,
    on_error: Callable[[RowError], None] | None = None,
) -> IngestSummary:
    """Read CSV/JSONL files or folders into the store in batches; bad rows are reported and skipped.

    Each batch is committed on its own, so a failure later in a file keeps what was already stored.
    """
    summary = IngestSummary()
    files, problems = list_files([Path(p) for p in paths])
    run_id = store.start_run("ingest", now)

    def reject(err: RowError) -> None:
        summary.rejected += 1
        if len(summary.errors) < MAX_KEPT_ERRORS:
            summary.errors.append(err)
        if on_error is not None:
            on_error(err)

    for problem in problems:
        reject(problem)
    try:
        for path in files:
            summary.files += 1
            file_options = options if options.source else _with_source(options, path.stem)
            bar = progress(f"ingest {path.name}", path.stat().st_size, "B")
            batch: list[Document] = []
            try:
                for item in read_rows(
                    path,
                    columns=dict(options.columns),
                    max_cell_chars=options.max_text_chars,
                    progress=bar.update,
                ):
                    if isinstance(item, RowError):
                        reject(item)
                        continue
                    line, raw = item
                    parsed = parse_row(raw, path=str(path), line=line, options=file_options, fetched_at=now)
                    if isinstance(parsed, RowError):
                        reject(parsed)
                        continue
                    summary.read += 1
                    batch.append(parsed)
                    if len(batch) >= batch_size:
                        _flush(store, batch, summary)
                if batch:
                    _flush(store, batch, summary)
            finally:
                bar.close()
    except TrackerError as exc:
        store.finish_run(run_id, now, "failed", summary.as_counts(), str(exc))
        raise
    except BaseException as exc:
        store.finish_run(run_id, now, "failed", summary.as_counts(), f"{type(exc).__name__}: {exc}")
        raise
    status = "ok" if summary.read else "failed"
    store.finish_run(run_id, now, status, summary.as_counts(), None if summary.read else "no rows could be read")
    return summary


def _with_source(options: RowOptions, source: str) -> RowOptions:
    return replace(options, source=source)


def _flush(store: Store, batch: list[Document], summary: IngestSummary) -> None:
    added = store.save_documents(batch)
    summary.added += added
    summary.duplicates += len(batch) - added
    batch.clear()


def score(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    rescore: bool = False,
    progress: ProgressFactory = _no_progress,
    scorers: Mapping[str, Scorer] | None = None,
) -> ScoreSummary:
    """Detect missing languages, then score unscored documents with the model for their language."""
    from tracker.language import LanguageDetector
    from tracker.scoring.usecases import make_scorers

    sc = settings.scoring
    detector = LanguageDetector(sc.detect_languages) if sc.detect_language else None
    run_id = store.start_run("score", now)
    try:
        summary = score_store(
            store,
            scorers if scorers is not None else make_scorers(settings),
            now=now,
            rescore=rescore,
            chunk_size=sc.chunk_size,
            detect=detector.detect if detector else None,
            progress=progress,
        )
    except BaseException as exc:
        store.finish_run(run_id, datetime.now(UTC), "failed", {}, f"{type(exc).__name__}: {exc}")
        raise
    store.finish_run(run_id, datetime.now(UTC), "ok", summary.as_counts())
    return summary


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
    """Train the default head on the seed set (or given files); see tracker.scoring.usecases.train_head."""
    from tracker.scoring.usecases import DEFAULT_ENCODER, seed_dir, train_head

    return train_head(
        settings,
        encoder=encoder or DEFAULT_ENCODER,
        data=data or [seed_dir()],
        out=out or settings.models_dir / "minilm-hostility",
        seed=seed,
        holdout=holdout,
        now=now,
    )


def evaluate(settings: Settings, path: Path, model: str | None = None) -> EvalResult:
    """Metrics of the chosen model and of the keyword baseline on a labeled file."""
    from tracker.scoring.usecases import evaluate_file, make_scorer, pick_model

    return evaluate_file(path, make_scorer(settings, pick_model(settings, model)))


def demo_corpus_path() -> Path:
    """The bundled synthetic demo corpus (a folder of CSV/JSONL files)."""
    return Path(str(resources.files("tracker") / "data" / "demo" / "corpus"))


@dataclass(frozen=True)
class DemoResult:
    ingest: IngestSummary
    score: ScoreSummary
    database: str
    outputs: Path


def run_demo(
    settings: Settings, store: Store, *, now: datetime, progress: ProgressFactory = _no_progress
) -> DemoResult:
    """The main job on the bundled demo data: ingest and score it (later: trends, alerts, report)."""
    summary = ingest_paths(
        store,
        [demo_corpus_path()],
        row_options(settings),
        now=now,
        batch_size=settings.ingest.batch_size,
        progress=progress,
    )
    scored = score(settings, store, now=now, progress=progress)
    settings.outputs_dir.mkdir(parents=True, exist_ok=True)
    return DemoResult(ingest=summary, score=scored, database=store.url, outputs=settings.outputs_dir)
