"""File ingest: good rows stored, bad rows reported with file and line, nothing stored twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker.models import RowError
from tracker.pipeline import ingest_paths
from tracker.sources.files import read_rows
from tracker.sources.rows import RowOptions, parse_timestamp
from tracker.storage import Store

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def ingest(store: Store, *paths: Path, **opts: object) -> tuple[object, list[RowError]]:
    errors: list[RowError] = []
    options = RowOptions(**opts)  # type: ignore[arg-type]
    summary = ingest_paths(store, list(paths), options, now=NOW, batch_size=3, on_error=errors.append)
    return summary, errors


def write_bytes(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_bad_csv_rows_are_reported_with_their_line_and_good_rows_kept(sqlite_store: Store, tmp_path: Path) -> None:
    big = "x" * (10 * 1024 * 1024)
    lines = [
        b"id,text,published_at,actor",  # 1
        b"1,Good statement one,2023-10-17T08:00:00Z,KH",  # 2
        b"2,,2023-10-17T09:00:00Z,KH",  # 3 missing text
        b"3,Good statement two,2023-10-17T10:00:00+03:00,KH",  # 4
        b"4,Bad date,17th of Octember,KH",  # 5 unparseable date
        b"5,Bad bytes \xff\xfe here,2023-10-17T11:00:00Z,KH",  # 6 invalid UTF-8
        b'6,"' + big.encode() + b'",2023-10-17T12:00:00Z,KH',  # 7 a 10 MB cell
        b"7,Too many,cells,2023-10-17T13:00:00Z,KH",  # 8 wrong number of cells
        b'8,"Good multi-line\nstatement three",2023-10-17T14:00:00Z,KH',  # 9-10
        b"9,Missing date,,KH",  # 11
        b"10,Good statement four,2023-10-18,KH",  # 12
    ]
    path = write_bytes(tmp_path / "mixed.csv", b"\n".join(lines) + b"\n")
    summary, errors = ingest(sqlite_store, path, source="wire", max_text_chars=1_000_000)

    assert summary.read == 4  # type: ignore[attr-defined]
    assert summary.added == 4  # type: ignore[attr-defined]
    assert summary.rejected == 6  # type: ignore[attr-defined]
    assert sqlite_store.count_documents() == 4
    by_line = {e.line: e.reason for e in errors}
    assert set(by_line) == {3, 5, 6, 7, 8, 11}
    assert all(e.path == str(path) for e in errors)
    assert "missing text" in by_line[3]
    assert "cannot parse published_at" in by_line[5]
    assert "UTF-8" in by_line[6]
    assert "larger than" in by_line[7]
    assert "cells" in by_line[8]
    assert "missing published_at" in by_line[11]
    texts = sorted(d.text for d in sqlite_store.iter_documents())
    assert texts == sorted(
        [
            "Good statement one",
            "Good statement two",
            "Good multi-line\nstatement three",
            "Good statement four",
        ]
    )


def test_bad_jsonl_lines_are_reported(sqlite_store: Store, tmp_path: Path) -> None:
    good = {"text": "Rockets hit the base", "published_at": "2023-10-18T10:00:00Z", "source": "wire"}
    content = b"\n".join(
        [
            json.dumps(good).encode(),  # 1
            b"{not json",  # 2
            b"[1, 2]",  # 3
            json.dumps({**good, "text": "caf\u00e9"}).encode().replace(b"\\u00e9", b"\xc3"),  # 4 broken UTF-8
            json.dumps({**good, "text": 42}).encode(),  # 5 text not a string
            b"",  # 6 blank: skipped silently
            json.dumps({**good, "text": "Second good", "published_at": 1697623200}).encode(),  # 7 epoch
        ]
    )
    path = write_bytes(tmp_path / "feed.jsonl", content + b"\n")
    summary, errors = ingest(sqlite_store, path)
    assert [e.line for e in errors] == [2, 3, 4, 5]
    assert summary.added == 2  # type: ignore[attr-defined]
    epoch_doc = next(d for d in sqlite_store.iter_documents() if d.text == "Second good")
    assert epoch_doc.published_at == datetime(2023, 10, 18, 10, 0, tzinfo=UTC)


def test_an_oversized_jsonl_line_is_skipped_without_losing_the_next(sqlite_store: Store, tmp_path: Path) -> None:
    row = {"text": "y" * 3_000_000, "published_at": "2023-01-01", "source": "s"}
    nxt = {"text": "after the big one", "published_at": "2023-01-02", "source": "s"}
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps(nxt) + "\n", encoding="utf-8")
    summary, errors = ingest(sqlite_store, path, max_text_chars=100_000)
    assert [e.line for e in errors] == [1]
    assert summary.added == 1  # type: ignore[attr-defined]


def test_offsets_become_utc_and_naive_times_use_the_configured_zone(sqlite_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "times.csv"
    path.write_text(
        "id,text,published_at\n"
        "a,with offset,2023-10-17T08:00:00+03:00\n"
        "b,naive,2023-10-17 08:00:00\n"
        "c,zulu,2023-10-17T08:00:00Z\n",
        encoding="utf-8",
    )
    ingest(sqlite_store, path, source="s", timezone="Asia/Baghdad")
    got = {d.external_id: d.published_at for d in sqlite_store.iter_documents()}
    assert got["a"] == datetime(2023, 10, 17, 5, 0, tzinfo=UTC)
    assert got["b"] == datetime(2023, 10, 17, 5, 0, tzinfo=UTC)  # read in Baghdad time (+03)
    assert got["c"] == datetime(2023, 10, 17, 8, 0, tzinfo=UTC)


def test_ingesting_the_same_file_twice_adds_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "same.csv"
    rows = "\n".join(f"Statement {i},2023-01-{i + 1:02d}" for i in range(20))
    path.write_text("text,published_at\n" + rows + "\n", encoding="utf-8")
    first, _ = ingest(store, path)
    second, _ = ingest(store, path)
    assert (first.added, first.duplicates) == (20, 0)  # type: ignore[attr-defined]
    assert (second.added, second.duplicates, second.read) == (0, 20, 20)  # type: ignore[attr-defined]
    assert store.count_documents() == 20
    assert {d.source for d in store.iter_documents()} == {"same"}  # file name when no source is given


def test_identity_is_source_and_id_when_an_id_is_given(sqlite_store: Store, tmp_path: Path) -> None:
    one = tmp_path / "v1.csv"
    one.write_text("id,text,published_at\n17,First wording,2023-01-01\n", encoding="utf-8")
    two = tmp_path / "v2.csv"
    two.write_text("id,text,published_at\n17,Edited wording,2023-01-01\n", encoding="utf-8")
    ingest(sqlite_store, one, source="tg")
    summary, _ = ingest(sqlite_store, two, source="tg")
    assert summary.added == 0  # type: ignore[attr-defined]
    summary, _ = ingest(sqlite_store, two, source="other")
    assert summary.added == 1  # type: ignore[attr-defined]


def test_without_an_id_the_same_text_at_another_time_is_a_new_document(sqlite_store: Store, tmp_path: Path) -> None:
    path = tmp_path / "reposts.csv"
    path.write_text("text,published_at\nDeath to the occupiers,2023-01-01\nDeath to the occupiers,2023-01-02\n")
    summary, _ = ingest(sqlite_store, path, source="tg")
    assert summary.added == 2  # type: ignore[attr-defined]
    hashes = {d.text_hash for d in sqlite_store.iter_documents()}
    assert len(hashes) == 1  # one text hash: reposts will be scored once


def test_column_mapping_and_missing_required_column(sqlite_store: Store, tmp_path: Path) -> None:
    mapped = tmp_path / "mapped.csv"
    mapped.write_text("body,date,group\nHello,2023-05-01,AAH\n", encoding="utf-8")
    summary, errors = ingest(
        sqlite_store, mapped, source="s", columns={"text": "body", "published_at": "date", "actor": "group"}
    )
    assert summary.added == 1 and not errors  # type: ignore[attr-defined]
    assert next(sqlite_store.iter_documents()).actor == "AAH"
    summary, errors = ingest(sqlite_store, mapped, source="s")
    assert summary.read == 0  # type: ignore[attr-defined]
    assert errors[0].line == 1 and "missing required column 'text'" in errors[0].reason


def test_folders_are_read_recursively_and_bad_paths_reported(sqlite_store: Store, tmp_path: Path) -> None:
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "a.csv").write_text("text,published_at\nA,2023-01-01\n", encoding="utf-8")
    (tmp_path / "in" / "sub" / "b.jsonl").write_text('{"text": "B", "published_at": "2023-01-02"}\n')
    (tmp_path / "in" / "notes.txt").write_text("ignored in folders")
    (tmp_path / "x.txt").write_text("explicitly named")
    summary, errors = ingest(sqlite_store, tmp_path / "in", tmp_path / "x.txt", tmp_path / "missing.csv")
    assert summary.files == 2 and summary.added == 2  # type: ignore[attr-defined]
    reasons = sorted(e.reason for e in errors)
    assert any("no such file" in r for r in reasons)
    assert any("unsupported file type .txt" in r for r in reasons)


def test_reading_streams_instead_of_loading_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "large.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("text,published_at\n")
        for i in range(200_000):
            out.write(f"Row number {i} with some words in it,2023-01-01T00:00:00Z\n")
    size = path.stat().st_size
    seen = [0]

    def count(n: int) -> None:
        seen[0] += n

    rows = read_rows(path, columns={}, max_cell_chars=1000, progress=count)
    first = next(rows)
    assert isinstance(first, tuple) and first[0] == 2
    assert seen[0] < size / 10  # only a buffer's worth was read for the first row
    remaining = sum(1 for _ in rows)
    assert remaining == 199_999
    assert seen[0] == size


def test_a_failure_mid_file_keeps_the_batches_already_stored(tmp_path: Path) -> None:
    class FailingStore(Store):
        calls = 0

        def save_documents(self, docs):  # type: ignore[no-untyped-def]
            FailingStore.calls += 1
            if FailingStore.calls == 3:
                raise OSError("disk full")
            return super().save_documents(docs)

    store = FailingStore.open(f"sqlite:///{tmp_path / 't.db'}")
    path = tmp_path / "ten.csv"
    path.write_text("text,published_at\n" + "".join(f"T{i},2023-01-{i + 1:02d}\n" for i in range(10)))
    with pytest.raises(OSError):
        ingest(store, path)
    assert store.count_documents() == 6  # two batches of 3 committed before the failure
    run = store.recent_runs(1)[0]
    assert run.status == "failed" and "disk full" in (run.error or "")
    assert run.counts["added"] == 6


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-10-17T08:00:00+03:00", datetime(2023, 10, 17, 5, 0, tzinfo=UTC)),
        ("2023-10-17", datetime(2023, 10, 17, tzinfo=UTC)),
        ("1697529600", datetime(2023, 10, 17, 8, 0, tzinfo=UTC)),
        (1697529600, datetime(2023, 10, 17, 8, 0, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(value: object, expected: datetime) -> None:
    assert parse_timestamp(value) == expected


def test_parse_timestamp_uses_listed_formats() -> None:
    assert parse_timestamp("17/10/2023 08:00", "UTC", ("%d/%m/%Y %H:%M",)) == datetime(2023, 10, 17, 8, 0, tzinfo=UTC)


def test_a_row_is_a_statement_or_a_report_by_its_column_its_source_or_as_a_forward() -> None:
    from tracker.sources.rows import parse_row

    now = datetime(2024, 1, 1, tzinfo=UTC)
    options = RowOptions(source="kh_channel", kind="statement", forwarded_kind="report")

    def kind_of(**row: object) -> object:
        doc = parse_row(
            {"text": "We warn the occupiers.", "published_at": "2023-10-17T08:00:00Z", **row},
            path="x.csv",
            line=2,
            options=options,
            fetched_at=now,
        )
        return doc if isinstance(doc, RowError) else doc.kind

    assert kind_of() == "statement"  # the source's default
    assert kind_of(forwarded_from="Sabereen News") == "report"  # a forwarded post is someone else's words
    assert kind_of(kind="Report") == "report"  # the row's own column wins
    assert kind_of(kind="statement", forwarded_from="X") == "statement"
    bad = kind_of(kind="rumour")
    assert isinstance(bad, RowError) and bad.line == 2 and "kind 'rumour' is not one of statement, report" in bad.reason
    assert RowOptions().kind is None


def test_config_defaults_telegram_statements_and_feeds_reports(tmp_path: Path) -> None:
    from tracker.config import load_settings

    config = tmp_path / "config.yaml"
    config.write_text(
        "sources:\n"
        "  - {name: kh, kind: telegram, path: kh/result.json}\n"
        "  - {name: wire, kind: rss, url: 'https://news.example.org/feed.xml'}\n"
        "  - {name: files, kind: files, path: 'x/*.csv'}\n"
        "  - {name: quoted, kind: telegram, path: q/result.json, document_kind: report, forwarded_kind: statement}\n",
        encoding="utf-8",
    )
    kh, wire, files, quoted = load_settings(config, env={}).sources
    assert (kh.document_kind, kh.forwarded_kind, wire.document_kind, files.document_kind) == (  # type: ignore[union-attr]
        "statement",
        "report",
        "report",
        None,
    )
    assert (quoted.document_kind, quoted.forwarded_kind) == ("report", "statement")  # type: ignore[union-attr]
