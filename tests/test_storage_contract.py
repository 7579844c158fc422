"""One contract for every store: SQLite and PostgreSQL must behave the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tracker.errors import StorageError
from tracker.models import Document, Score, document_id, text_hash
from tracker.scoring.evaluation import predicted_targets
from tracker.storage import MIGRATIONS, Store

T0 = datetime(2023, 10, 17, 8, 30, tzinfo=UTC)


def make_doc(i: int, *, source: str = "wire", when: datetime | None = None, text: str | None = None) -> Document:
    text = text or f"Statement number {i} about the convoy."
    published = when or T0 + timedelta(hours=i)
    return Document(
        id=document_id(source, str(i), text, published),
        source=source,
        external_id=str(i),
        text=text,
        text_hash=text_hash(text),
        published_at=published,
        fetched_at=T0,
        actor="Kataib Hezbollah" if i % 2 else None,
        language="en",
        url=f"https://example.org/{i}",
    )


def make_score(doc: Document, version: str = "m1", level: int = 3) -> Score:
    probs = [0.0] * 5
    probs[level] = 1.0
    return Score(doc.id, version, level, level / 4, tuple(probs), T0)  # type: ignore[arg-type]


def test_migrations_are_applied_once_on_open(store: Store, store_url: str) -> None:
    assert store.schema_version() == MIGRATIONS[-1].version
    again = Store.open(store_url)
    try:
        assert again.migrate() == []
        assert again.schema_version() == MIGRATIONS[-1].version
    finally:
        again.close()


def test_documents_round_trip_with_utc_times(store: Store) -> None:
    baghdad = timezone(timedelta(hours=3))
    doc = make_doc(1, when=datetime(2023, 10, 18, 2, 0, tzinfo=baghdad))
    assert store.save_documents([doc]) == 1
    back = store.get_document(doc.id)
    assert back is not None
    assert back == doc
    assert back.published_at.tzinfo is not None
    assert back.published_at.utcoffset() == timedelta(0)
    assert back.published_at == datetime(2023, 10, 17, 23, 0, tzinfo=UTC)


def test_arabic_and_long_text_round_trip(store: Store) -> None:
    arabic = make_doc(2, text="المقاومة الإسلامية في العراق تعلن استهداف قاعدة عين الأسد")
    long = make_doc(3, text="word " * 20_000)
    store.save_documents([arabic, long])
    assert store.get_document(arabic.id) == arabic
    got = store.get_document(long.id)
    assert got is not None and len(got.text) == len(long.text)


def test_saving_the_same_documents_twice_adds_nothing(store: Store) -> None:
    docs = [make_doc(i) for i in range(50)]
    assert not store.has_documents()
    assert store.save_documents(docs) == 50
    assert store.has_documents()
    assert store.save_documents(docs) == 0
    assert store.save_documents([*docs[:10], make_doc(99)]) == 1
    assert store.count_documents() == 51
    assert store.count_documents(source="wire") == 51
    assert store.count_documents(source="other") == 0


def test_duplicates_inside_one_batch_count_once(store: Store) -> None:
    doc = make_doc(7)
    assert store.save_documents([doc, doc, doc]) == 1
    assert store.count_documents() == 1


def test_naive_times_are_refused(store: Store) -> None:
    doc = make_doc(1)
    naive = Document(**{**{f: getattr(doc, f) for f in doc.__slots__}, "published_at": datetime(2023, 1, 1)})
    with pytest.raises(StorageError, match="naive"):
        store.save_documents([naive])
    assert store.count_documents() == 0


def test_iter_documents_pages_in_time_order(store: Store) -> None:
    docs = [make_doc(i) for i in range(25)]
    store.save_documents(list(reversed(docs)))
    got = list(store.iter_documents(chunk_size=7))
    assert [d.id for d in got] == [d.id for d in docs]
    window = list(store.iter_documents(since=T0 + timedelta(hours=5), until=T0 + timedelta(hours=10), chunk_size=2))
    assert [d.external_id for d in window] == ["5", "6", "7", "8", "9"]


def test_scores_keep_one_row_per_document_and_model_version(store: Store) -> None:
    doc = make_doc(1)
    store.save_documents([doc])
    assert store.save_scores([make_score(doc, "m1", 3)]) == 1
    assert store.save_scores([make_score(doc, "m1", 4)]) == 0  # same version: kept as first scored
    assert store.save_scores([make_score(doc, "m2", 1)]) == 1  # new version: old score kept beside it
    got = store.load_scores(doc.id)
    assert [(s.model_version, s.level) for s in got] == [("m1", 3), ("m2", 1)]
    assert got[0].probabilities == (0.0, 0.0, 0.0, 1.0, 0.0)
    assert store.count_scores() == 2
    assert store.count_scores("m2") == 1


def test_scores_need_a_stored_document(store: Store) -> None:
    ghost = make_doc(404)
    with pytest.raises(Exception):  # noqa: B017 - the driver's integrity error differs per database
        store.save_scores([make_score(ghost)])
    assert store.count_scores() == 0


def test_runs_are_recorded(store: Store) -> None:
    run_id = store.start_run("ingest", T0)
    running = store.recent_runs(1)[0]
    assert (running.id, running.status, running.finished_at) == (run_id, "running", None)
    store.finish_run(run_id, T0 + timedelta(seconds=5), "ok", {"read": 3, "added": 2})
    second = store.start_run("score", T0 + timedelta(minutes=1))
    store.finish_run(second, T0 + timedelta(minutes=2), "failed", {}, "model missing")
    runs = store.recent_runs(10)
    assert [r.id for r in runs] == [second, run_id]
    assert runs[1].counts == {"read": 3, "added": 2}
    assert runs[1].finished_at == T0 + timedelta(seconds=5)
    assert runs[0].error == "model missing"
    assert [r.id for r in store.recent_runs(10, kind="ingest")] == [run_id]


def test_a_store_that_cannot_be_opened_names_the_url_without_password() -> None:
    with pytest.raises(StorageError) as info:
        Store.open("postgresql://someone:secret@127.0.0.1:1/nowhere")
    message = str(info.value)
    assert "127.0.0.1:1/nowhere" in message
    assert "secret" not in message
    assert "***" in message


def brute_force(docs: list[Document], scored: list[Score], by: str | None) -> dict[tuple[str, str], tuple]:
    """What daily_aggregates must return, computed document by document in Python."""
    out: dict[tuple[str, str], list[float]] = {}
    by_doc = {s.document_id: s for s in scored}
    for d in docs:
        s = by_doc.get(d.id)
        if by == "target":
            keys = list(predicted_targets(s.targets)) if s else []  # >= 0.5; NONE alone (test_targets)
        else:
            keys = ["all"] if by is None else [getattr(d, by) or "(not named)"]
        for key in keys:
            acc = out.setdefault((d.published_at.astimezone(UTC).date().isoformat(), key), [0, 0, 0.0, 0, 0])
            if s is None:
                acc[1] += 1
                continue
            acc[0] += 1
            acc[2] += s.hostility
            acc[3] += int(s.level >= 3)
            acc[4] += int(s.level == 4)
    return {k: (v[0], v[1], round(v[2], 6), v[3], v[4]) for k, v in out.items()}


def as_table(frame) -> dict[tuple[str, str], tuple]:  # type: ignore[no-untyped-def]
    return {
        (r.day.date().isoformat(), r.key): (r.documents, r.unscored, round(r.hostility_sum, 6), r.hostile, r.violent)
        for r in frame.itertuples(index=False)
    }


def test_daily_aggregates_follow_documents_scores_targets_and_detected_languages(store: Store) -> None:
    docs = []
    for i in range(40):
        d = make_doc(i, when=T0 + timedelta(hours=7 * i))
        kind = ("statement", "report", None)[i % 3]
        docs.append(Document(**{**{f: getattr(d, f) for f in d.__slots__}, "kind": kind, "language": None}))
    store.save_documents(docs)
    store.save_documents(docs[:5])  # saved twice: counted once
    detected = [(d.id, "ar" if i % 4 else "en") for i, d in enumerate(docs) if i % 5]
    store.set_detected_languages(detected)
    langs = dict(detected)
    docs = [Document(**{**{f: getattr(d, f) for f in d.__slots__}, "language": langs.get(d.id)}) for d in docs]
    scored = []
    for i, d in enumerate(docs[:30]):  # the rest stay unscored
        base = make_score(d, level=i % 5)
        targets = (
            ("US", 0.9 if i % 2 else 0.2),
            ("ISR", 0.6 if i % 3 == 0 else 0.1),
            ("NONE", 0.5 if i % 7 == 0 else 0),
        )
        scored.append(Score(**{**{f: getattr(base, f) for f in base.__slots__}, "targets": targets}))
    store.save_scores(scored[:20])
    store.save_scores(scored)  # the first 20 again: kept as they were, not counted twice
    store.save_scores([make_score(docs[0], version="other")])  # another model's score does not count
    for by in (None, "actor", "source", "language", "kind", "target"):
        got = as_table(store.daily_aggregates(["m1"], by=by))
        assert got == brute_force(docs, scored, by), by
    assert store.load_scores(docs[1].id)[0].targets == (("US", 0.9), ("ISR", 0.1), ("NONE", 0))
    day = T0.date()
    window = store.daily_aggregates(
        ["m1"],
        since=datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1),
        until=datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=3),
    )
    assert sorted({d.date() for d in window["day"]}) == [day + timedelta(days=1), day + timedelta(days=2)]
