"""`tracker export`: every document with its score, targets and kind, to CSV, Parquet and JSON Lines; round trips
through pandas; no CSV cell a spreadsheet would run as a formula (issue 16)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_tracker
from tracker.config import load_settings
from tracker.errors import TrackerError
from tracker.exports import spreadsheet_safe
from tracker.models import Document, Score, document_id, text_hash
from tracker.pipeline.export import export_documents
from tracker.storage import Store

VERSION = "m@1"
T0 = datetime(2023, 10, 17, 8, tzinfo=UTC)
TEXTS = [
    '=HYPERLINK("http://evil.example","click")',
    "+1 drone hit the base",
    "-2 dead at the checkpoint",
    "@SUM(A1:A9) our statement",
    "بيان رقم (17): تعليق العمليات ضد قوات الاحتلال الأمريكي",
    'A quote "inside", a comma, and a\nnew line',
    "Unscored: a text in a language with no model",
]


def fill(store: Store) -> list[Document]:
    docs, scores = [], []
    for i, text in enumerate(TEXTS):
        when = T0 + timedelta(days=i)
        kind = "statement" if i % 2 else "report"
        doc = Document(
            document_id("tg", str(i), text, when),
            "tg",
            text,
            text_hash(text),
            when,
            when,
            str(i),
            "KH",
            "en",
            kind=kind,
        )
        docs.append(doc)
        if i < len(TEXTS) - 1:
            level = i % 5
            probs = [0.05] * 5
            probs[level] = 0.8
            targets = (("US", 0.9 if i % 3 == 0 else 0.1), ("IQG", 0.6))
            scores.append(Score(doc.id, VERSION, level, level / 4, tuple(probs), when, targets))  # type: ignore[arg-type]
    store.save_documents(docs)
    store.save_scores(scores)
    return docs


@pytest.fixture
def filled(tmp_path: Path):  # type: ignore[no-untyped-def]
    config = tmp_path / "config.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\n", encoding="utf-8")
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    docs = fill(store)
    yield load_settings(config, env={}), store, docs
    store.close()


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_every_document_round_trips(filled, tmp_path: Path, fmt: str) -> None:  # type: ignore[no-untyped-def]
    settings, store, docs = filled
    out = tmp_path / f"all.{fmt}"
    summary = export_documents(settings, store, out=out, versions=[VERSION])
    assert (summary.rows, summary.scored) == (len(TEXTS), len(TEXTS) - 1)
    if fmt == "csv":
        frame = pd.read_csv(out, encoding="utf-8-sig", keep_default_na=False)
    elif fmt == "parquet":
        frame = pd.read_parquet(out)
    else:
        frame = pd.read_json(out, lines=True)
    assert list(frame["id"]) == [d.id for d in docs]
    texts = [t[1:] if fmt == "csv" and t[:1] == "'" else t for t in frame["text"]]  # the CSV's safety prefix
    assert texts == TEXTS
    assert list(frame["kind"]) == ["report", "statement"] * 3 + ["report"]
    assert frame["published_at"].astype(str).str.startswith("2023-10-17").iloc[0]
    scored = frame.iloc[:-1]
    assert [int(x) for x in scored["level"]] == [i % 5 for i in range(len(TEXTS) - 1)]
    assert list(scored["targets"]) == ["US;IQG" if i % 3 == 0 else "IQG" for i in range(len(TEXTS) - 1)]
    assert json.loads(scored["target_probabilities"].iloc[0]) == {"IQG": 0.6, "US": 0.9}
    assert set(scored["model_version"]) == {VERSION}
    last = frame.iloc[-1]
    assert last["level"] in ("", None) or pd.isna(last["level"])  # unscored: empty score fields


def test_no_csv_cell_is_a_formula(filled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, store, _ = filled
    out = tmp_path / "x.csv"
    export_documents(settings, store, out=out, versions=[VERSION])
    with out.open(encoding="utf-8-sig", newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row]
    assert cells and not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)
    assert '\'=HYPERLINK("http://evil.example","click")' in cells
    assert spreadsheet_safe(-2) == -2 and spreadsheet_safe("plain") == "plain"


def test_a_period_and_a_scope_narrow_the_export(filled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, store, docs = filled
    out = tmp_path / "w.jsonl"
    export_documents(settings, store, out=out, since=date(2023, 10, 18), until=date(2023, 10, 20), versions=[VERSION])
    assert [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()] == [
        d.id for d in docs[1:4]
    ]
    export_documents(settings, store, out=out, scope="target:US", versions=[VERSION])
    assert [json.loads(line)["external_id"] for line in out.read_text(encoding="utf-8").splitlines()] == ["0", "3"]
    export_documents(settings, store, out=out, scope="kind:statement", versions=[VERSION])
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3
    with pytest.raises(TrackerError, match="scope 'tribe:x'"):
        export_documents(settings, store, out=out, scope="tribe:x", versions=[VERSION])
    with pytest.raises(TrackerError, match="give --format"):
        export_documents(settings, store, out=tmp_path / "x.xlsx", versions=[VERSION])
    with pytest.raises(TrackerError, match="does not exist"):
        export_documents(settings, store, out=tmp_path / "missing" / "x.csv", versions=[VERSION])


def test_export_command_on_the_demo(demo_home: Path, tmp_path: Path) -> None:
    for name in ("demo.csv", "demo.parquet"):
        result = run_tracker(
            "export", "--from", "2023-10-01", "--to", "2023-10-31", "--out", str(tmp_path / name), home=demo_home
        )
        assert result.returncode == 0, result.stderr
        assert "documents (" in result.stdout
    frame = pd.read_csv(tmp_path / "demo.csv", encoding="utf-8-sig")
    parquet = pd.read_parquet(tmp_path / "demo.parquet")
    assert len(frame) == len(parquet) > 100
    assert list(frame["id"]) == list(parquet["id"])
    assert set(parquet["kind"]) == {"statement", "report"}
    assert parquet["hostility"].between(0, 1).all()


def test_explain_lists_the_most_hostile_the_most_copied_and_the_new() -> None:
    from tracker.explanations import explain, explanation_as_text

    def row(text: str, level: int, when: str, source: str = "tg") -> dict[str, object]:
        return {
            "text": text,
            "text_hash": text_hash(text),
            "level": level,
            "hostility": level / 4,
            "published_at": when,
            "source": source,
            "url": f"https://t.me/{source}/1",
            "actor": "KH",
        }

    claim = "We struck the occupation base with two drones."
    now = [row(claim, 4, f"2023-10-18 0{h}:00", f"tg{h}") for h in range(3)]
    now += [
        row("The council met today.", 1, "2023-10-18 10:00"),
        row("We warn the occupiers again.", 3, "2023-10-18 11:00"),
    ]
    before = [row("We warn the occupiers again.", 3, "2023-10-12 11:00"), row("Calm day.", 0, "2023-10-12 12:00")]
    e = explain(now, before, start=date(2023, 10, 18), end=date(2023, 10, 18), scope="overall", limit=2)
    assert e.documents == 5 and e.hostile_share == 4 / 5 and e.prior_documents == 2
    assert e.most_hostile[0].text == claim and e.most_hostile[0].copies == 3
    assert e.most_hostile[0].sources == ("tg0", "tg1", "tg2") and e.most_hostile[0].first_seen == "2023-10-18 00:00"
    assert [i.text for i in e.most_copied] == [claim]
    assert [i.text for i in e.new_hostile] == [claim]  # the warning was posted the week before
    text = explanation_as_text(e)
    assert "3 copies" in text and "https://t.me/tg0/1" in text and "the week before: 2" in text
    assert e.as_dict()["most_copied"][0]["copies"] == 3


def test_explain_command_shows_that_days_statements(demo_home: Path) -> None:
    result = run_tracker("explain", "--day", "2023-10-18", "--json", home=demo_home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["from"] == "2023-10-18" and data["documents"] > 0
    assert data["most_hostile"] and all(i["first_seen"].startswith("2023-10-18") for i in data["most_hostile"])
    week = run_tracker("explain", "--week", "2023-W42", "--scope", "kind:statement", home=demo_home)
    assert week.returncode == 0 and "Most hostile:" in week.stdout, week.stderr
    bad = run_tracker("explain", "--day", "2030-01-01", home=demo_home)
    assert bad.returncode != 0 and "no documents from 2030-01-01" in bad.stderr
