"""Scoring documents in the store: languages, reposts, versions, long and empty texts, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import score_coverage, scores_in
from tests.tiny_models import build_head
from tracker.language import LanguageDetector
from tracker.models import Document, document_id, text_hash
from tracker.pipeline import ingest_paths
from tracker.pipeline.score import score_store
from tracker.scoring.base import ModelSpec
from tracker.scoring.transformer import TransformerScorer
from tracker.sources.rows import RowOptions
from tracker.storage import Store

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def doc(i: int, text: str, language: str | None = "en") -> Document:
    when = datetime(2023, 10, 17, tzinfo=UTC)
    return Document(
        id=document_id("t", str(i), text, when),
        source="t",
        external_id=str(i),
        text=text,
        text_hash=text_hash(text),
        published_at=when,
        fetched_at=NOW,
        language=language,
    )


def scorer(encoder: Path, head: Path, name: str = "tiny") -> TransformerScorer:
    return TransformerScorer(
        ModelSpec(name, "encoder_head", str(encoder), str(head)), precision="fp32", max_tokens=32, stride=8
    )


def test_scores_by_language_with_reasons_for_the_rest(store: Store, tiny_encoder: Path, tiny_head: Path) -> None:
    store.save_documents(
        [
            doc(1, "our fighters attacked the base"),
            doc(2, "our fighters attacked the base"),  # a repost: scored once
            doc(3, "we thank the government for the agreement"),
            doc(4, "المقاومة تعلن استهداف القاعدة", language=None),  # detected as Arabic: no model
            doc(5, "The minister said on Monday that the budget talks will resume next week.", language=None),
            doc(6, "Le ministre a annoncé lundi la reprise des négociations budgétaires.", language="fr"),
        ]
    )
    detector = LanguageDetector(["en", "ar", "fr"])
    summary = score_store(store, {"en": scorer(tiny_encoder, tiny_head)}, now=NOW, detect=detector.detect)
    assert summary.detected == 2
    assert summary.scored == 4 and summary.texts == 3 and summary.reused == 0
    assert summary.unscored == {"no model for language 'ar'": 1, "no model for language 'fr'": 1}
    assert store.get_document(doc(4, "المقاومة تعلن استهداف القاعدة").id).language == "ar"  # type: ignore[union-attr]
    assert store.count_scores() == 4
    one, two = store.load_scores(doc(1, "x").id), store.load_scores(doc(2, "x").id)
    assert one[0].probabilities == two[0].probabilities

    again = score_store(store, {"en": scorer(tiny_encoder, tiny_head)}, now=NOW, detect=detector.detect)
    assert (again.scored, again.reused, store.count_scores()) == (0, 0, 4)


def test_a_repost_arriving_later_reuses_the_stored_score(store: Store, tiny_encoder: Path, tiny_head: Path) -> None:
    s = scorer(tiny_encoder, tiny_head)
    store.save_documents([doc(1, "death to america")])
    score_store(store, {"en": s}, now=NOW)
    store.save_documents([doc(2, "death to america")])
    summary = score_store(store, {"en": s}, now=NOW)
    assert (summary.scored, summary.reused) == (0, 1)


def test_a_new_model_version_rescores_on_demand_and_keeps_old_scores(
    store: Store, tiny_encoder: Path, tiny_head: Path, tmp_path: Path
) -> None:
    store.save_documents([doc(i, f"the minister said on monday {i}") for i in range(5)])
    old = scorer(tiny_encoder, tiny_head)
    score_store(store, {"en": old}, now=NOW)
    new = scorer(tiny_encoder, build_head(tmp_path / "new-head", seed=7), name="tiny")
    assert str(new.version) != str(old.version)
    plain = score_store(store, {"en": new}, now=NOW)
    assert plain.scored == 0  # already scored: no silent re-scoring
    rescored = score_store(store, {"en": new}, now=NOW, rescore=True)
    assert rescored.scored == 5
    assert store.count_scores(str(old.version)) == 5 and store.count_scores(str(new.version)) == 5
    assert score_store(store, {"en": new}, now=NOW, rescore=True).scored == 0


def test_nothing_to_score_never_loads_the_model(store: Store, tmp_path: Path, tiny_encoder: Path) -> None:
    s = scorer(tiny_encoder, build_head(tmp_path / "h"))
    summary = score_store(store, {"en": s}, now=NOW)
    assert summary.scored == 0
    assert s._loaded is None


def test_a_20000_word_document_is_windowed_and_an_empty_one_rejected_at_ingest(
    sqlite_store: Store, tiny_encoder: Path, tiny_head: Path, tmp_path: Path
) -> None:
    path = tmp_path / "docs.csv"
    long_text = " ".join(["the government said on monday that the talks will resume"] * 2000)
    assert len(long_text.split()) >= 20_000
    path.write_text(
        f'text,published_at,language\n"{long_text}",2023-10-17,en\n,2023-10-18,en\nshort one,2023-10-19,en\n',
        encoding="utf-8",
    )
    errors: list[object] = []
    ingested = ingest_paths(sqlite_store, [path], RowOptions(source="t"), now=NOW, on_error=errors.append)
    assert ingested.added == 2 and len(errors) == 1 and "missing text" in str(errors[0])
    summary = score_store(sqlite_store, {"en": scorer(tiny_encoder, tiny_head)}, now=NOW)
    assert summary.scored == 2
    assert summary.windowed == 1


@pytest.mark.slow
def test_a_killed_score_run_resumes_and_scores_every_document_exactly_once(
    tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    n = 6000
    data = tmp_path / "docs.csv"
    with data.open("w", encoding="utf-8") as out:
        out.write("id,text,published_at,language\n")
        for i in range(n):
            out.write(f"{i},the group said on monday {i} that our fighters attacked the base {i * 7},2023-10-17,en\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        "scoring:\n  precision: fp32\n  chunk_size: 100\n  detect_language: false\n  models:\n    en:\n"
        f"      name: tiny\n      path: {tiny_encoder}\n      head: {tiny_head}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "TRACKER_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "tracker", "--config", str(config)]
    subprocess.run([*cmd, "ingest", str(data), "--source", "t"], env=env, check=True, capture_output=True)
    db = tmp_path / "home" / "tracker.db"

    proc = subprocess.Popen([*cmd, "score"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while scores_in(db) < n // 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    halfway = scores_in(db)
    assert 0 < halfway < n, "the run must be killed part-way through"

    rerun = subprocess.run([*cmd, "score"], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert score_coverage(db) == (n, n, 0)  # every document scored exactly once
    assert f"scored {n - halfway:,} documents" in rerun.stdout


def test_progress_is_reported_per_batch_not_per_chunk(sqlite_store: Store, tiny_encoder: Path, tiny_head: Path) -> None:
    """Issue 13: a terminal-less `tracker score` logs progress while a chunk is scored (every 10 s), so the
    reports must come per batch of windows, not once per 1,024-document chunk."""
    sqlite_store.save_documents([doc(i, f"the group said on monday {i}") for i in range(40)])
    updates: list[int] = []

    class Recorder:
        def update(self, n: int = 1) -> None:
            updates.append(n)

        def close(self) -> None:
            pass

    tiny = TransformerScorer(ModelSpec("tiny", "encoder_head", str(tiny_encoder), str(tiny_head)), batch_size=8)
    score_store(sqlite_store, {"en": tiny}, now=NOW, chunk_size=1024, progress=lambda *a: Recorder())
    assert sum(updates) == 40 and len([n for n in updates if n]) >= 5  # 40 texts in batches of 8
