"""Scopes everywhere: per actor, kind and target, each key's own change points and regimes, through a real store,
on seeded synthetic data with known answers; statements and reports; targets from scores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tracker.config import load_settings
from tracker.models import Document, Score, document_id, text_hash
from tracker.pipeline.alerts import backtest
from tracker.pipeline.trends import compute_trends
from tracker.storage import Store
from tracker.views import trends_as_json

VERSION = "synthetic@1"
START = date(2023, 1, 1)
DAYS = 300
STEP = 180  # the day one actor escalates
US_FALL = 200  # the day hostility toward the US falls (after two thirds of the history: see the note in the test)


def level_around(rng: np.random.Generator, level: float) -> int:
    return int(np.clip(np.rint(level + rng.normal(0, 0.8)), 0, 4))


def fill(store: Store, seed: int) -> None:
    """Three actors at 3 statements a day each: "Escalating" steps from about level 1.5 to 3 on day STEP, the
    others hold at 1.5. Reports (2 a day) target the US (falling from level 3 to 1 on day US_FALL) and Israel
    (holding at level 3)."""
    rng = np.random.default_rng(seed)
    docs: list[Document] = []
    scores: list[Score] = []

    def add(
        i: str, day: date, actor: str | None, kind: str, level: int, targets: tuple[tuple[str, float], ...]
    ) -> None:
        when = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(minutes=len(docs) % 600)
        text = f"{kind} {i} on {day}"
        doc = Document(
            document_id("syn", i, text, when), "syn", text, text_hash(text), when, when, i, actor, "en", kind=kind
        )
        probs = [0.0] * 5
        probs[level] = 1.0
        docs.append(doc)
        scores.append(Score(doc.id, VERSION, level, level / 4, tuple(probs), when, targets))  # type: ignore[arg-type]

    for d in range(DAYS):
        day = START + timedelta(days=d)
        for actor in ("Escalating", "Steady A", "Steady B"):
            for j in range(3):
                level = level_around(rng, 3.0 if actor == "Escalating" and d >= STEP else 1.5)
                add(f"{d}-{actor}-{j}", day, actor, "statement", level, (("IQG", 0.7), ("US", 0.1)))
        us = level_around(rng, 1.0 if d >= US_FALL else 3.0)
        add(f"{d}-us", day, None, "report", us, (("US", 0.9), ("ISR", 0.05)))
        isr = level_around(rng, 3.0)
        add(f"{d}-isr", day, None, "report", isr, (("US", 0.2), ("ISR", 0.95)))
    store.save_documents(docs)
    store.save_scores(scores)


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\nalerts:\n  by: [actor, target]\n", encoding="utf-8")
    return load_settings(config, env={})


@pytest.mark.parametrize("seed", range(3))
def test_one_actor_escalates_while_the_others_stay_calm(tmp_path: Path, settings, seed: int) -> None:  # type: ignore[no-untyped-def]
    with Store.open(f"sqlite:///{tmp_path / 'scopes.db'}") as store:
        fill(store, seed)
        result = compute_trends(settings, store, by="actor", versions=[VERSION])
    scopes = result.scopes
    assert set(scopes) == {"Escalating", "Steady A", "Steady B", "(not named)"}
    step = START + timedelta(days=STEP)
    assert len(scopes["Escalating"].change_points) == 1
    assert abs((scopes["Escalating"].change_points[0] - step).days) <= 14
    assert scopes["Escalating"].regimes[-1].kind == "escalation"
    assert scopes["Steady A"].change_points == [] and scopes["Steady B"].change_points == []
    doc = trends_as_json(result)
    assert doc["by"] == "actor" and doc["scopes"]["Escalating"]["change_points"] == [
        d.isoformat() for d in scopes["Escalating"].change_points
    ]
    assert {"change_points", "regimes", "long_run", "documents"} <= set(doc["scopes"]["Steady A"])


def test_hostility_toward_one_target_falls_while_toward_another_it_holds(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    with Store.open(f"sqlite:///{tmp_path / 'scopes.db'}") as store:
        fill(store, 7)
        by_target = compute_trends(settings, store, by="target", versions=[VERSION])
        by_kind = compute_trends(settings, store, by="kind", versions=[VERSION])
        found = backtest(
            settings,
            store,
            since=START + timedelta(days=60),
            until=START + timedelta(days=DAYS - 1),
            versions=[VERSION],
        )
    us, isr = by_target.scopes["US"], by_target.scopes["ISR"]
    assert us.regimes[-1].kind == "calm" and us.regimes[0].kind != "calm"
    assert abs((us.change_points[0] - (START + timedelta(days=US_FALL))).days) <= 14
    assert all(r.kind != "calm" for r in isr.regimes)
    assert int(by_target.daily["documents"].sum()) == 11 * DAYS  # overall: each document once, whatever its targets
    assert set(by_target.scopes) == {"US", "ISR", "IQG"}  # NONE never reached 0.5; US 0.1 does not count
    assert int(by_kind.daily_by_key.query("key == 'report'")["documents"].sum()) == 2 * DAYS  # type: ignore[union-attr]
    assert int(by_kind.daily_by_key.query("key == 'statement'")["documents"].sum()) == 9 * DAYS  # type: ignore[union-attr]
    regimes = {(a["scope"], a["severity"]) for a in found if a["rule"] == "regime_change"}
    assert ("target:US", "calm") in regimes and not any(s == "target:ISR" for s, _ in regimes)
    assert ("actor:Escalating", "escalation") in regimes
    assert not any(s.startswith("actor:Steady") for s, _ in regimes)
