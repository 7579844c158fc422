"""Scoring throughput, as ratios measured in one run on one mixed corpus:

- end to end: `tracker score`'s code path (store read, tokenising, windows, inference, store write);
- raw forward: the same model and settings on pre-tokenised windows (no store, no tokenising);
- naive: corpus order, batches of 32 padded to 256 tokens, fp32 (the baseline in PERFORMANCE-NOTES);
- unsorted: corpus order, batches of 32 padded per batch, fp32.

Targets (issues 3 and 12): end to end >= 0.8x raw forward, and >= 4x naive. The corpus is half Arabic, half
English, scored by the configured multilingual model. Also: the dev-set metrics with the precision `auto` chose
against fp32 (the guard: within 0.01).
"""

from __future__ import annotations

import csv
import os
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracker.config import load_settings
from tracker.models import Document, document_id, text_hash
from tracker.pipeline.score import make_scorers, score_store
from tracker.pipeline.train import data_dir, dev_files, evaluate_file, seed_dir
from tracker.storage import Store

N_STATEMENTS, N_PARAGRAPHS = 1400, 600
REPO = Path(__file__).resolve().parents[1]


def mixed_corpus(seed: int = 7, folders: tuple[Path, ...] | None = None) -> list[str]:
    """1,400 short statements and 600 paragraphs (several news items joined), all distinct; from the English v1
    seed set, or from `folders` (the Arabic and English seed sets, mixed)."""
    rng = random.Random(seed)
    statements: list[str] = []
    news: list[str] = []
    for folder in folders or (seed_dir(),):
        for f in sorted(folder.glob("*.csv")):
            with open(f, encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    (statements if row.get("register") == "statement" else news).append(row["text"])
    rng.shuffle(statements)
    short = [s for s in statements if 8 <= len(s.split()) <= 40]
    texts = [f"{short[i % len(short)]} ({i})" for i in range(N_STATEMENTS)]
    for i in range(N_PARAGRAPHS):
        parts = rng.sample(news, 3)
        texts.append(" ".join(parts) + f" ({i})")
    rng.shuffle(texts)
    return texts


def language_of(text: str) -> str:
    arabic = sum(1 for ch in text if "\u0600" <= ch <= "\u06ff")
    return "ar" if arabic > len(text) / 4 else "en"


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run() -> list[dict[str, str]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = load_settings(REPO / "config.yaml", env={})
    scorers = make_scorers(settings)
    scorer = scorers["en"]
    multilingual = scorers.get("ar") is scorer
    texts = mixed_corpus(folders=(data_dir() / "seed", data_dir() / "seed_ar") if multilingual else None)
    langs = [language_of(t) for t in texts]
    loaded = scorer._load()
    torch = loaded["torch"]
    scorer.score_batch(texts[:64])  # warm-up

    ids, _ = scorer.windows(texts)
    tokens = sum(len(w) for w in ids)
    raw = _timed(lambda: scorer.window_probabilities(ids))

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        now = datetime.now(UTC)
        when = datetime(2023, 10, 17, tzinfo=UTC)
        store.save_documents(
            [
                Document(document_id("b", str(i), t, when), "b", t, text_hash(t), when, now, str(i), None, langs[i])
                for i, t in enumerate(texts)
            ]
        )
        used = {lang: scorer for lang in sorted(set(langs))}
        e2e = _timed(lambda: score_store(store, used, now=now, chunk_size=settings.scoring.chunk_size))
        assert store.count_scores() == len(texts)
        store.close()

    tokenizer, model, head = loaded["tokenizer"], loaded["model"], loaded["head"]

    def baseline(pad_to_max: bool) -> None:
        from tracker.scoring.transformer import mean_pool

        with torch.inference_mode():
            for i in range(0, len(texts), 32):
                enc = tokenizer(
                    [loaded["prefix"] + t for t in texts[i : i + 32]],
                    padding="max_length" if pad_to_max else True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                )
                hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
                torch.softmax(head(mean_pool(torch, hidden, enc["attention_mask"])), dim=-1)

    naive = _timed(lambda: baseline(True))
    unsorted = _timed(lambda: baseline(False))
    n = len(texts)
    rows = [
        ("raw forward (sorted windows, " + (str(loaded["autocast"]).replace("torch.", "") or "fp32") + ")", raw),
        ("end to end (tracker score path)", e2e),
        ("naive: corpus order, padded to 256, fp32", naive),
        ("unsorted, padded per batch, fp32", unsorted),
    ]
    languages = ", ".join(f"{n} {lang}" for lang, n in sorted(Counter(langs).items()))
    out = []
    for name, seconds in rows:
        out.append(
            {
                "benchmark": f"score {n:,} texts ({languages}; {tokens:,} tokens), {scorer.version.name}: {name}",
                "seconds": f"{seconds:.1f}",
                "texts/s": f"{n / seconds:,.0f}",
                "vs raw forward": f"{raw / seconds:.2f}x",
                "e2e vs this": f"{seconds / e2e:.2f}x",
            }
        )
    out += precision_guard(settings, scorer)
    return out


def precision_guard(settings: Any, scorer: Any) -> list[dict[str, str]]:
    """Dev-set macro-F1 and QWK with the precision auto chose, against fp32: the guard is a gap under 0.01."""
    from tracker.pipeline.score import make_scorer

    chosen = str(scorer._load()["autocast"] or "fp32").replace("torch.", "")
    exact = settings.model_copy(update={"scoring": settings.scoring.model_copy(update={"precision": "fp32"})})
    fp32 = make_scorer(exact, scorer.spec)
    rows = []
    for lang, path in dev_files().items():
        a, b = evaluate_file(path, scorer).metrics, evaluate_file(path, fp32).metrics
        rows.append(
            {
                "benchmark": f"dev {lang} ({a.n} texts): macro-F1 / QWK with {chosen} vs fp32",
                "seconds": "",
                "texts/s": "",
                "vs raw forward": f"{a.macro_f1:.3f} / {a.qwk:.3f} vs {b.macro_f1:.3f} / {b.qwk:.3f}",
                "e2e vs this": f"gap {abs(a.macro_f1 - b.macro_f1):.3f} / {abs(a.qwk - b.qwk):.3f}",
            }
        )
    return rows
