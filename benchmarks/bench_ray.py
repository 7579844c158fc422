"""Scoring through Ray against local scoring, on this machine (issue 17). The bench_score corpus (2,000 mixed
texts), and the same three times over (6,000 distinct texts), each scored with the configured model and precision

- locally: `tracker score`'s path, torch on every core, the model loading inside the timing;
- through Ray: a Ray instance started here with one CPU per core, 2 scorer actors of 1 CPU (1 torch thread) each,
  their start and model loads inside the timing (the instance's own start outside it).

Target: the Ray path at most 25% slower than local. The two sizes split the cost: the extra 4,000 texts give each
path's rate once started (the per-text overhead), the rest is a fixed start-up cost. Also: the largest probability
difference between the two (0 expected: the same chunks make the same batches; beside it, for scale, what other
batches do in the chosen precision), and one driver's store work without scoring (documents read, looked up and
written per second), which caps any cluster.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_score import REPO, language_of, mixed_corpus
from tracker.config import load_settings
from tracker.models import Document, document_id, text_hash
from tracker.pipeline.score import make_scorers, score_store
from tracker.pipeline.score_ray import ray_settings, score_store_on_ray
from tracker.pipeline.train import data_dir
from tracker.storage import Store

ACTORS = 2
COPIES = 3  # the larger corpus: the 2,000 texts this many times, each copy marked so that every text is distinct
IDENTITY = 300  # texts scored locally in other batches, for scale


def documents(texts: list[str], copies: int) -> list[Document]:
    now, when = datetime(2026, 1, 1, tzinfo=UTC), datetime(2023, 10, 17, tzinfo=UTC)
    out = []
    for k in range(copies):
        for i, text in enumerate(texts):
            t = text if k == 0 else f"{text} [{k}]"
            out.append(Document(document_id("b", f"{k}-{i}", t, when), "b", t, text_hash(t), when, now, f"{k}-{i}",
                                None, language_of(text)))  # fmt: skip
    return out


def run() -> list[dict[str, str]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray

    settings = load_settings(REPO / "config.yaml", env={})
    sc = settings.scoring
    rs = ray_settings(settings).model_copy(update={"actors": ACTORS, "cpus_per_actor": 1.0, "threads_per_actor": 1})
    make_scorers(settings)["en"].windows(["warm up"])  # the model cache, the precision verdict, the page cache
    scorers = make_scorers(settings)
    multilingual = scorers.get("ar") is scorers["en"]
    texts = mixed_corpus(folders=(data_dir() / "seed", data_dir() / "seed_ar") if multilingual else None)
    small, large = documents(texts, 1), documents(texts, COPIES)
    languages = sorted({d.language or "und" for d in small})
    now = datetime.now(UTC)
    local: dict[int, float] = {}
    remote: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def store(name: str, docs: list[Document]) -> Store:
            opened = Store.open(f"sqlite:///{Path(tmp) / f'{name}.db'}")
            opened.save_documents(docs)
            return opened

        stores = {"local": store("local", small), "ray": store("ray", small), "rebatched": store("b", small[:IDENTITY])}
        for docs, name in ((small, "local"), (large, "local-large")):
            target = stores[name] if name in stores else store(name, docs)
            fresh = make_scorers(settings)["en"]  # loads inside the timing
            local[len(docs)] = _timed(
                lambda t=target, f=fresh: score_store(t, dict.fromkeys(languages, f), now=now, chunk_size=sc.chunk_size)
            )
        model = make_scorers(settings)["en"]
        score_store(stores["rebatched"], dict.fromkeys(languages, model), now=now, chunk_size=64)

        ray_start = _timed(lambda: ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="WARNING"))
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        try:
            for docs, name in ((small, "ray"), (large, "ray-large")):
                target = stores[name] if name in stores else store(name, docs)
                used = dict.fromkeys(languages, make_scorers(settings)["en"])
                remote[len(docs)] = _timed(
                    lambda t=target, u=used: score_store_on_ray(
                        t, u, worker_settings=settings, ray_settings=rs, now=now, chunk_size=sc.chunk_size
                    )
                )
        finally:
            ray.shutdown()
        diff = max_difference(stores["local"], stores["ray"], small)
        noise = max_difference(stores["local"], stores["rebatched"], small[:IDENTITY])
        driver = driver_rate(f"sqlite:///{Path(tmp) / 'driver.db'}", small, "bench@driver")
        for opened in stores.values():
            opened.close()

    chosen = str(model._load()["autocast"] or "fp32").replace("torch.", "")
    counts = ", ".join(f"{k} {lang}" for lang, k in sorted(Counter(d.language for d in small).items()))
    name = f"score ({counts}) x1 and x{COPIES}, {model.version.name} ({chosen})"
    n, big = len(small), len(large)
    threads = sc.threads or len(os.sched_getaffinity(0))
    local_rate, ray_rate = (big - n) / (local[big] - local[n]), (big - n) / (remote[big] - remote[n])
    fixed_local, fixed_ray = local[n] - n / local_rate, remote[n] - n / ray_rate

    def row(what: str, seconds: float | None, rate: float | None, vs: str, note: str) -> dict[str, str]:
        return {"benchmark": f"{name}: {what}", "seconds": "" if seconds is None else f"{seconds:.1f}",
                "texts/s": "" if rate is None else f"{rate:,.1f}", "vs local": vs, "note": note}  # fmt: skip

    rows = []
    for size in (n, big):
        rows.append(row(f"{size:,} texts, local, {threads} torch threads", local[size], size / local[size], "1.00x",
                        "the model loads inside the timing"))  # fmt: skip
        rows.append(row(
            f"{size:,} texts, ray, {ACTORS} actors x 1 CPU", remote[size], size / remote[size],
            f"{local[size] / remote[size]:.2f}x",
            f"overhead {100 * (remote[size] / local[size] - 1):+.0f}% (target <= +25%); actors start and load inside; "
            f"the Ray instance's own start ({ray_start:.1f} s) outside",
        ))  # fmt: skip
    rows += [
        row(
            f"the extra {big - n:,} texts: rate once started",
            None,
            ray_rate,
            f"{ray_rate / local_rate:.2f}x",
            f"per-text overhead {100 * (local_rate / ray_rate - 1):+.0f}% (local {local_rate:,.1f} texts/s); "
            f"fixed start-up: ray {fixed_ray:.1f} s, local {fixed_local:.1f} s",
        ),
        row(
            "identity",
            None,
            None,
            "",
            f"max |p local - p ray| {diff:.1e} over {n:,} texts (the same chunks, the same batches); for scale, "
            f"local in chunks of 64 vs {sc.chunk_size}: {noise:.1e}",
        ),
        row(
            "one driver's store work, no scoring",
            None,
            driver,
            "",
            f"documents/s read, looked up and written in chunks of 1,024 ({10 * n:,} in SQLite): a driver's ceiling",
        ),
    ]
    return rows


def _timed(fn: Any) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def max_difference(a: Store, b: Store, docs: list[Document]) -> float:
    worst = 0.0
    for d in docs:
        (x,), (y,) = a.load_scores(d.id), b.load_scores(d.id)
        worst = max(worst, *(abs(p - q) for p, q in zip(x.probabilities, y.probabilities, strict=True)))
    return worst


def driver_rate(url: str, docs: list[Document], version: str, copies: int = 10) -> float:
    """Documents per second one driver moves through the store without scoring (read a chunk, look up known
    texts, write its scores in one transaction): the ceiling of one driver, whatever the cluster."""
    from dataclasses import replace

    from tracker.models import Score

    many = [
        replace(d, id=f"{d.id[:24]}{k:08d}", external_id=f"{d.external_id}-{k}", text=f"{d.text} [{k}]",
                text_hash=text_hash(f"{d.text} [{k}]"))
        for k in range(copies) for d in docs
    ]  # fmt: skip
    with Store.open(url) as store:
        store.save_documents(many)
        languages = sorted({d.language or "und" for d in many})
        stamp = datetime(2026, 1, 1, tzinfo=UTC)
        began = time.perf_counter()
        moved = 0
        for lang in languages:
            for rows in store.iter_to_score(lang, version, False, 1024):
                store.scores_for_hashes(sorted({h for _, _, h in rows}), version)  # reposts: none here
                store.save_scores([Score(i, version, 1, 0.25, (0.1, 0.6, 0.1, 0.1, 0.1), stamp) for i, _, _ in rows])
                moved += len(rows)
        return moved / (time.perf_counter() - began)
