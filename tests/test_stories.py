"""Stories: copies of one text grouped and counted once. The rule on its own, measured on the labeled pair set,
grouping through a real SQLite store (including a backfilled earlier copy), and the burst acceptance test: 60
forwards and 20 edited copies of one violent statement on a calm day open no alert and no change point, while
the same 80 as distinct statements do."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tracker.config import load_settings
from tracker.models import Document, Score, document_id, text_hash
from tracker.pipeline.alerts import backtest
from tracker.pipeline.stories import StorySettings, group_stories, joins_story
from tracker.pipeline.trends import compute_trends
from tracker.storage import Store
from tracker.stories import compare, normalize, pair_metrics, same_story

PAIRS = Path(__file__).resolve().parents[1] / "tracker" / "data" / "stories" / "pairs.csv"
VERSION = "synthetic@1"


# --- the rule ---------------------------------------------------------------------------------------------------


def test_normalize_folds_arabic_spelling_variants_digits_links_and_emojis() -> None:
    a = "عاجل | أعلنت المقاومةُ الإسلاميـــة استهداف القاعدة ٣ مرات 🔴 #عين_الأسد https://t.me/demo_x/12"
    assert normalize(a) == "عاجل اعلنت المقاومه الاسلاميه استهداف القاعده 3 مرات عين الاسد"
    assert normalize("إلى") == normalize("الي") == normalize("الى")


def test_copies_are_one_story_and_another_fact_is_another_event() -> None:
    base = "The Islamic Resistance in Iraq targeted Ain al-Asad base in western Anbar with two drones on Friday."
    assert same_story(base, "BREAKING: " + base + " 🔥 t.me/demo_war/55")
    assert same_story(base, "Forwarded from War Media\n" + base)
    assert same_story(base, base.replace("two drones", "2 drones"))
    assert not same_story(base, base.replace("Friday", "Saturday"))
    assert not same_story(base, base.replace("two drones", "three drones"))
    assert not same_story(base, base.replace("Ain al-Asad", "Harir"))
    ar = "تبنت المقاومة الإسلامية في العراق، مساء الأحد، هجوماً بطائرة مسيرة على قاعدة حرير شمالي أربيل."
    assert same_story(ar, "عاجل | " + ar.replace("إ", "ا"))
    assert not same_story(ar, ar.replace("الأحد", "الثلاثاء"))
    assert compare(ar, ar.replace("حرير", "عين الأسد")).conflicts


def _pairs(split: str) -> list[dict[str, str]]:
    with PAIRS.open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r["split"] == split]


def test_pair_set_precision_and_recall_on_the_held_out_half() -> None:
    """The acceptance figure (precision >= 0.95 at recall >= 0.90), on the `test` half; the thresholds were
    chosen on the `tune` half (scripts/story_pairs.py prints both, per language and relation)."""
    rows = _pairs("test")
    assert len(rows) == 230
    settings = StorySettings()
    m = pair_metrics(
        [joins_story(r["text_a"], r["text_b"], settings) for r in rows], [r["same_story"] == "1" for r in rows]
    )
    assert m["precision"] >= 0.95 and m["recall"] >= 0.90, m


# --- grouping in the store -------------------------------------------------------------------------------------


def _doc(i: str, text: str, when: datetime, source: str = "chan", actor: str | None = "Faction") -> Document:
    return Document(
        document_id(source, i, text, when), source, text, text_hash(text), when, when, i, actor, "en", kind="statement"
    )


def _score(doc: Document, level: int) -> Score:
    probs = [0.0] * 5
    probs[level] = 1.0
    return Score(doc.id, VERSION, level, level / 4, tuple(probs), doc.published_at, (("US", 0.9),))  # type: ignore[arg-type]


def _totals(store: Store, unit: str) -> tuple[int, int]:
    agg = store.daily_aggregates([VERSION], unit=unit)
    by_target = store.daily_aggregates([VERSION], by="target", unit=unit)
    return int(agg["documents"].sum()), int(by_target["documents"].sum())


def test_grouping_counts_each_story_once_and_a_backfilled_earlier_copy_becomes_its_first(tmp_path: Path) -> None:
    t0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
    claim = "Our mujahideen struck the occupation base at Harir north of Erbil with three drones at dawn on Tuesday."
    other = "The prime minister received the British ambassador in Baghdad to discuss electricity imports."
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        docs = [
            _doc("1", claim, t0),
            _doc("2", "عاجل | " + claim + " 🔴", t0 + timedelta(minutes=5), source="relay"),
            _doc("3", "Forwarded from War Media\n" + claim, t0 + timedelta(hours=2), source="mirror"),
            _doc("4", other, t0 + timedelta(hours=3)),
            _doc("5", claim.replace("three drones", "two drones"), t0 + timedelta(hours=4)),  # another salvo
        ]
        store.save_documents(docs)
        store.save_scores([_score(d, 4 if "drones" in d.text else 1) for d in docs])
        assert _totals(store, "stories") == (5, 5)  # not grouped yet: every document is its own story
        summary = group_stories(store)
        assert (summary.grouped, summary.copies) == (5, 2)
        assert _totals(store, "stories") == (3, 3) and _totals(store, "documents") == (5, 5)
        copies = store.story_copies([d.id for d in docs])
        assert copies[docs[0].id] == (3, 3) and copies[docs[3].id] == (1, 1) and copies[docs[4].id] == (1, 1)
        assert group_stories(store).grouped == 0  # a rerun has nothing left to group

        early = _doc("0", "URGENT: " + claim, t0 - timedelta(hours=1), source="early")  # a backfilled archive
        store.save_documents([early])
        store.save_scores([_score(early, 4)])
        assert group_stories(store).copies == 1
        assert _totals(store, "stories") == (3, 3) and _totals(store, "documents") == (6, 6)
        firsts = {d.id for d in store.grouped_between(t0 - timedelta(days=1), t0 + timedelta(days=1)) if d.story_first}
        assert early.id in firsts and docs[0].id not in firsts
        hours = store.daily_aggregates([VERSION], unit="stories")
        assert int(hours["violent"].sum()) == 2  # the claim once, the other salvo once


# --- the burst acceptance test ---------------------------------------------------------------------------------

CALM_DAYS = 120
BURST_DAY = 100
STATEMENT = (
    "The Islamic Resistance in Iraq announces that its fighters struck the US occupation base at {place} "
    "with {n} drones this morning, achieving direct hits."
)
PLACES = ["Harir", "Ain al-Asad", "Victoria base", "Erbil airport", "al-Tanf", "Rumeilan", "Shaddadi", "Conoco field"]
WORDS = [
    "ministry",
    "council",
    "budget",
    "water",
    "electricity",
    "road",
    "school",
    "visit",
    "delegation",
    "meeting",
    "parliament",
    "session",
    "tribe",
    "harvest",
    "market",
    "exchange",
    "rate",
    "pilgrims",
    "festival",
    "hospital",
    "bridge",
    "project",
    "salaries",
    "farmers",
    "rain",
    "port",
    "trade",
]


def _calm(rng: np.random.Generator) -> list[tuple[Document, int]]:
    out = []
    start = datetime(2023, 1, 1, 8, tzinfo=UTC)
    for d in range(CALM_DAYS):
        for j in range(10):
            when = start + timedelta(days=d, minutes=37 * j)
            words = " ".join(rng.choice(WORDS, size=14))
            text = f"Bulletin {d}-{j}: {words}."
            out.append((_doc(f"c{d}-{j}", text, when, source=f"src{j % 3}"), int(rng.choice([0, 1, 1, 2]))))
    return out


def _burst(rng: np.random.Generator, distinct: bool) -> list[tuple[Document, int]]:
    day = datetime(2023, 1, 1, 10, tzinfo=UTC) + timedelta(days=BURST_DAY)
    base = STATEMENT.format(place="Harir", n="three")
    out = []
    for k in range(80):
        when = day + timedelta(minutes=3 * k)
        if distinct:  # 80 different attacks: another base, another count each time
            text = STATEMENT.format(place=f"{PLACES[k % 8]} sector {k}", n=str(k + 4))
        elif k < 60:  # forwards: a header, sometimes a prefix or an emoji
            text = ["", "Forwarded from Resistance Media\n", "عاجل | ", "🔴 BREAKING: "][k % 4] + base
        else:  # edited copies: hashtags, a link, a word changed, a closing formula
            text = [
                base.replace("Harir", "#Harir") + " #IslamicResistance",
                base + " t.me/demo_resist/" + str(k),
                base.replace("achieving direct hits", "achieving accurate hits"),
                base + " And victory comes only from God.",
            ][k % 4]
        out.append((_doc(f"b{k}", text, when, source=f"relay{k % 7}"), 4))
    return out


def _burst_outcome(tmp_path: Path, distinct: bool, seed: int) -> tuple[list[dict[str, object]], list[date]]:
    rng = np.random.default_rng(seed)
    rows = _calm(rng) + _burst(rng, distinct)
    config = tmp_path / "config.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\n", encoding="utf-8")
    settings = load_settings(config, env={})
    with Store.open(f"sqlite:///{tmp_path / ('d.db' if distinct else 'c.db')}") as store:
        store.save_documents([d for d, _ in rows])
        group_stories(store)
        store.save_scores([_score(d, level) for d, level in rows])
        start = date(2023, 1, 1)
        alerts = backtest(
            settings,
            store,
            since=start + timedelta(days=60),
            until=start + timedelta(days=CALM_DAYS),
            versions=[VERSION],
        )
        result = compute_trends(settings, store, versions=[VERSION])
    return alerts, [cp.date() if hasattr(cp, "date") else cp for cp in result.change_points]


@pytest.mark.parametrize("seed", range(2))
def test_a_burst_of_copies_on_a_calm_day_opens_no_alert_and_no_change_point(tmp_path: Path, seed: int) -> None:
    alerts, change_points = _burst_outcome(tmp_path, distinct=False, seed=seed)
    assert alerts == []
    assert change_points == []


@pytest.mark.parametrize("seed", range(2))
def test_the_same_burst_as_distinct_statements_opens_an_alert_and_a_change_point(tmp_path: Path, seed: int) -> None:
    alerts, change_points = _burst_outcome(tmp_path, distinct=True, seed=seed)
    burst = date(2023, 1, 1) + timedelta(days=BURST_DAY)
    assert any(str(a["opened_at"])[:10] == burst.isoformat() for a in alerts), alerts
    assert change_points, "80 distinct violent statements in one day should move the series"


def test_alert_messages_quote_one_line_per_statement_without_control_or_bidi_override_characters() -> None:
    from tracker.alerts import quote_statements

    hostile = {
        "text": "Death to the occupier\n1. [fake line]\x1b[31m \u202eevil\u202c",
        "source": "chan",
        "published_at": datetime(2024, 1, 2, tzinfo=UTC),
        "level": 3,
        "hostility": 0.8,
        "copies": 4,
        "copy_sources": 2,
    }
    lines, quoted = quote_statements([], [hostile], "Most hostile statements:")
    assert lines[1].startswith(
        "1. [2024-01-02 · chan · level 3 · 0.80 · 4 copies from 2 sources] Death to the occupier"
    )
    assert "\n" not in lines[1] and "\x1b" not in lines[1] and "\u202e" not in lines[1]
    assert quoted[0]["copies"] == 4
