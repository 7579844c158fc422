"""Story grouping (issue 16): documents grouped per second, for a realistic mix (distinct statements, forwards
and edited copies, Arabic and English) and for the worst case, one template all day (every text a candidate of
every other); both should scale linearly: the ratio of 4x the documents to 1x should stay near 4."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracker.models import Document, document_id, text_hash
from tracker.pipeline.stories import group_stories
from tracker.storage import Store

START = datetime(2023, 1, 1, tzinfo=UTC)
SYLLABLES = ["ba", "ko", "ri", "sa", "tu", "me", "na", "lo", "qa", "zi", "har", "dun", "mal", "kir", "sef"]
_RNG = random.Random(3)
WORDS = sorted({"".join(_RNG.choice(SYLLABLES) for _ in range(3)) for _ in range(5000)})  # ~3,000 made-up words


def _mixed(n: int, rng: random.Random) -> list[str]:
    texts: list[str] = []
    while len(texts) < n:
        base = " ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40))) + f" {rng.randint(1, 500)}"
        texts.append(base)
        for _ in range(rng.choice([0, 0, 0, 1, 3])):  # some are forwarded or edited
            texts.append(
                rng.choice(["عاجل | ", "BREAKING: ", "Forwarded from X\n", ""]) + base + rng.choice(["", " 🔴"])
            )
    return texts[:n]


def _template(n: int, rng: random.Random) -> list[str]:
    return [f"the group said on monday {i} that our fighters attacked the base {i * 7}" for i in range(n)]


def _time(texts: list[str], tmp: Path, name: str, per_day: int) -> float:
    docs = []
    for i, text in enumerate(texts):
        when = START + timedelta(days=i // per_day, seconds=i % per_day)
        docs.append(Document(document_id("b", str(i), text, when), "b", text, text_hash(text), when, when, str(i)))
    with Store.open(f"sqlite:///{tmp / (name + '.db')}") as store:
        store.save_documents(docs)
        start = time.perf_counter()
        group_stories(store)
        return time.perf_counter() - start


def run() -> list[dict[str, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for label, make, per_day in (("mixed streams", _mixed, 500), ("one template all day", _template, 10**9)):
            seconds = {}
            for n in (5_000, 20_000):
                seconds[n] = _time(make(n, random.Random(7)), tmp, f"{label[:5]}{n}", per_day)
            rows.append(
                {
                    "benchmark": f"stories: group {label}, 5,000 and 20,000 documents",
                    "seconds": f"{seconds[5_000]:.2f} / {seconds[20_000]:.2f}",
                    "target": "linear: ratio near 4",
                    "docs/s": f"{20_000 / seconds[20_000]:,.0f}",
                    "note": f"ratio {seconds[20_000] / seconds[5_000]:.1f}",
                }
            )
    return rows
