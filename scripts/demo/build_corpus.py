"""Build the SYNTHETIC demo corpus from the hand-written text pools in this folder.

    python scripts/demo/build_corpus.py        # writes tracker/data/demo/corpus/

Deterministic (seeded). Daily volume and the mix of hostility levels follow the founding story: tense
2021-2022, a calm after the Sudani government formed on 27 Oct 2022, rhetoric rising through mid-2023, a wave
of attack claims from 17 Oct 2023, and a pause from February 2024. Every text is invented; see the corpus README.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "tracker" / "data" / "demo" / "corpus"
BAGHDAD = timezone(timedelta(hours=3))
SEED = 20221027

START, END = date(2021, 1, 1), date(2024, 6, 30)
# (period, first day, daily volume at start, daily volume at end, level mix at start, level mix at end)
PERIODS = [
    ("tense", date(2021, 1, 1), 2.4, 2.6, {1: 15, 2: 35, 3: 30, 4: 20}, {1: 15, 2: 35, 3: 30, 4: 20}),
    ("calm", date(2022, 10, 27), 1.8, 1.8, {0: 30, 1: 52, 2: 18}, {0: 28, 1: 52, 2: 20}),
    ("rising", date(2023, 5, 1), 2.0, 3.2, {1: 40, 2: 45, 3: 15}, {1: 12, 2: 33, 3: 43, 4: 12}),
    ("wave", date(2023, 10, 17), 7.0, 6.0, {1: 8, 2: 10, 3: 25, 4: 57}, {1: 10, 2: 12, 3: 25, 4: 53}),
    ("pause", date(2024, 2, 1), 2.0, 2.0, {0: 15, 1: 45, 2: 32, 3: 8}, {0: 15, 1: 45, 2: 32, 3: 8}),
]
ACTORS = {
    "Kataib Hezbollah": ("demo_tg_kataib_hezbollah", 0.32),
    "Harakat al-Nujaba": ("demo_tg_nujaba", 0.24),
    "Asaib Ahl al-Haq": ("demo_tg_asaib", 0.22),
    "Kataib Sayyid al-Shuhada": ("demo_tg_kss", 0.12),
    "Islamic Resistance in Iraq": ("demo_tg_islamic_resistance", 0.0),  # from the wave on
}
NEWS_SOURCES = {"demo_wire": 0.5, "demo_baghdad_daily": 0.3, "demo_regional_monitor": 0.2}
STATEMENT_SHARE = 0.55
ARABIC_SHARE = 0.08


def load_pool(name: str) -> dict[tuple[str, int, str], list[tuple[str, str]]]:
    """(period, level, language) -> [(text, targets)]; `targets` is the writer's target codes (LABELING.md 2)."""
    pool: dict[tuple[str, int, str], list[tuple[str, str]]] = defaultdict(list)
    with open(HERE / name, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["period"], int(row["level"]), row.get("language") or "en")
            pool[key].append((row["text"].strip(), row["targets"].strip()))
    return pool


class Picker:
    """Draws texts for (period, level, language) without reuse until a bucket is exhausted."""

    def __init__(self, pool: dict[tuple[str, int, str], list[tuple[str, str]]], rng: random.Random) -> None:
        self.pool, self.rng = pool, rng
        self.queues: dict[tuple[str, int, str], list[tuple[str, str]]] = {}

    def pick(self, period: str, level: int, language: str) -> tuple[str, int, str] | None:
        """(text, level, targets) of the next text, from the nearest level that has texts."""
        for lv in sorted(range(5), key=lambda x: (abs(x - level), -x)):
            for per in (period, "any"):
                key = (per, lv, language)
                if self.pool.get(key):
                    queue = self.queues.get(key)
                    if not queue:
                        queue = list(self.pool[key])
                        self.rng.shuffle(queue)
                        self.queues[key] = queue
                    text, targets = queue.pop()
                    return text, lv, targets
        return None


def period_at(day: date) -> tuple[str, float, dict[int, float]]:
    for i, (name, first, v0, v1, m0, m1) in enumerate(PERIODS):
        last = PERIODS[i + 1][1] if i + 1 < len(PERIODS) else END + timedelta(days=1)
        if first <= day < last:
            t = (day - first).days / max((last - first).days - 1, 1)
            mix = {lv: (1 - t) * m0.get(lv, 0) + t * m1.get(lv, 0) for lv in range(5)}
            return name, v0 + t * (v1 - v0), mix
    raise ValueError(day)


def poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return n
        n += 1


def build() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(SEED)
    statements = Picker(load_pool("pool_statements.csv"), rng)
    news = Picker(load_pool("pool_news.csv"), rng)
    st_rows: list[dict[str, str]] = []
    nw_rows: list[dict[str, str]] = []
    seq: dict[str, int] = defaultdict(lambda: 1000)
    day = START
    while day <= END:
        period, volume, mix = period_at(day)
        for _ in range(poisson(rng, volume)):
            level = rng.choices(list(mix), weights=list(mix.values()))[0]
            actors = dict(ACTORS)
            if period in ("wave", "pause"):
                actors["Islamic Resistance in Iraq"] = (actors["Islamic Resistance in Iraq"][0], 0.35)
            actor = rng.choices(list(actors), weights=[w for _, w in actors.values()])[0]
            when = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=rng.randrange(24 * 60))
            if rng.random() < STATEMENT_SHARE:
                language = "ar" if rng.random() < ARABIC_SHARE else "en"
                got = statements.pick(period, level, language)
                if got is None:
                    continue
                channel = actors[actor][0]
                seq[channel] += 1
                st_rows.append(
                    {
                        "id": str(seq[channel]),
                        "text": got[0],
                        "published_at": when.astimezone(BAGHDAD).isoformat(timespec="minutes"),
                        "source": channel,
                        "actor": actor,
                        "language": "",  # left for language detection
                        "url": f"https://t.me/s/{channel}/{seq[channel]}",
                        "intended_level": str(got[1]),
                        "intended_targets": got[2],
                    }
                )
            else:
                got = news.pick(period, level, "en")
                if got is None:
                    continue
                text = got[0]
                source = rng.choices(list(NEWS_SOURCES), weights=list(NEWS_SOURCES.values()))[0]
                row = {
                    "text": text.replace("{actor}", actor),
                    "published_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "source": source,
                    "actor": actor if "{actor}" in text else "",
                    "language": "en",
                    "intended_level": str(got[1]),
                    "intended_targets": got[2],
                }
                if source == "demo_wire":  # the wire gives ids; the others are identified by content
                    seq[source] += 1
                    row["id"] = f"W{seq[source]}"
                    row["url"] = f"https://wire.example.org/story/{seq[source]}"
                nw_rows.append(row)
        day += timedelta(days=1)
    return st_rows, nw_rows


def main() -> None:
    st_rows, nw_rows = build()
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "telegram_statements.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(st_rows[0]))
        writer.writeheader()
        writer.writerows(st_rows)
    with open(OUT / "news.jsonl", "w", encoding="utf-8") as fh:
        for row in nw_rows:
            fh.write(json.dumps({k: v for k, v in row.items() if v != ""}, ensure_ascii=False) + "\n")
    print(f"wrote {len(st_rows)} statements and {len(nw_rows)} news items to {OUT}")


if __name__ == "__main__":
    main()
