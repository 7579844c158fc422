"""Feeds from a real HTTP server on 127.0.0.1, Telegram exports, and one `tracker run` cycle with its lock."""

from __future__ import annotations

import functools
import html
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tracker.config import load_settings
from tracker.errors import TrackerError
from tracker.pipeline.run import RUN_LOCK, run_once
from tracker.storage import Store

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)


def rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(
        f"<item><guid>{guid}</guid><title>{title}</title><description>&lt;p&gt;{desc}&lt;/p&gt;</description>"
        f"<link>https://news.example.org/{guid}</link><pubDate>Tue, 17 Oct 2023 08:00:00 +0300</pubDate></item>"
        for guid, title, desc in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{body}</channel></rss>'.encode()


def atom(entries: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<entry><id>urn:x:{i}</id><title>{t}</title><updated>2023-10-18T10:00:00Z</updated>"
        f'<link href="https://blog.example.org/{i}"/><summary>{t} in full.</summary></entry>'
        for i, t in entries
    )
    return f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>B</title>{body}</feed>'.encode()


@functools.cache
def gzip_bomb(megabytes: int = 1024) -> bytes:
    """1 GB of zeros, gzip-compressed to about 1 MB (compressed in chunks: the test never holds the 1 GB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * 1_048_576
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


class Feeds(BaseHTTPRequestHandler):
    content: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[tuple[str, int]]] = []

    def do_GET(self) -> None:
        if self.path == "/gone":
            return self._reply(410, b"")
        if self.path.startswith("/drip"):
            return self._drip()
        if self.path == "/bomb":
            return self._reply(200, gzip_bomb(), {"Content-Encoding": "gzip", "Content-Type": "application/xml"})
        body = Feeds.content.get(self.path)
        if body is None:
            return self._reply(404, b"")
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        if self.headers.get("If-None-Match") == etag:
            return self._reply(304, b"")
        return self._reply(200, body, {"ETag": etag, "Content-Type": "application/xml"})

    def _drip(self) -> None:
        """A feed that sends one byte every half second, for ever (until the client goes)."""
        Feeds.hits.append((self.path, 200))
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.end_headers()
        try:
            for _ in range(100_000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            return

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        Feeds.hits.append((self.path, status))
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Feeds.content, Feeds.hits = {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Feeds)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def settings_with(tmp_path: Path, sources: str, tiny_encoder: Path, tiny_head: Path) -> Any:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\n"
        "scoring:\n  precision: fp32\n  detect_language: false\n  models:\n    en:\n"
        f"      name: tiny\n      path: {tiny_encoder}\n      head: {tiny_head}\n"
        f"sources:\n{sources}",
        encoding="utf-8",
    )
    return load_settings(config, env={})


def test_feeds_first_fetch_then_304_then_only_new_entries(
    tmp_path: Path, server: str, tiny_encoder: Path, tiny_head: Path
) -> None:
    Feeds.content["/rss.xml"] = rss([("a1", "Rockets hit the base", "Two rockets"), ("a2", "Talks resume", "Calm")])
    Feeds.content["/atom.xml"] = atom([("1", "Drone attack claimed")])
    settings = settings_with(
        tmp_path,
        f"  - {{name: wire, kind: rss, url: '{server}/rss.xml', language: en, actor: KH}}\n"
        f"  - {{name: blog, kind: rss, url: '{server}/atom.xml', language: en}}\n",
        tiny_encoder,
        tiny_head,
    )
    store = Store.open(settings.database_url)
    first = run_once(settings, store, now=NOW)
    assert [(s.name, s.status, s.added) for s in first.sources] == [("wire", "ok", 2), ("blog", "ok", 1)]
    doc = next(d for d in store.iter_documents() if d.external_id == "a1")
    assert doc.text == "Rockets hit the base. Two rockets" and doc.actor == "KH" and doc.source == "wire"
    assert doc.published_at == datetime(2023, 10, 17, 5, 0, tzinfo=UTC) and doc.url.endswith("/a1")
    assert first.scored == 3

    second = run_once(settings, store, now=NOW + timedelta(hours=1))
    assert [s.status for s in second.sources] == ["not_modified", "not_modified"]
    assert second.added == 0 and not second.model_loaded
    assert ("/rss.xml", 304) in Feeds.hits

    Feeds.content["/rss.xml"] = rss([("a1", "Rockets hit the base", "Two rockets"), ("a3", "New threat", "Warned")])
    third = run_once(settings, store, now=NOW + timedelta(hours=2))
    assert [(s.name, s.added) for s in third.sources] == [("wire", 1), ("blog", 0)]
    assert store.count_documents() == 4
    store.close()


def test_a_malformed_feed_and_a_dead_url_are_reported_while_a_good_feed_is_stored(
    tmp_path: Path, server: str, tiny_encoder: Path, tiny_head: Path
) -> None:
    Feeds.content["/good.xml"] = rss([("g1", "Ceasefire holds", "Calm returns")])
    Feeds.content["/bad.xml"] = b"<html><body>this is not a feed</html"
    settings = settings_with(
        tmp_path,
        f"  - {{name: bad, kind: rss, url: '{server}/bad.xml', language: en}}\n"
        "  - {name: dead, kind: rss, url: 'http://127.0.0.1:9/none.xml', language: en, timeout: 2}\n"
        f"  - {{name: gone, kind: rss, url: '{server}/gone', language: en}}\n"
        f"  - {{name: good, kind: rss, url: '{server}/good.xml', language: en}}\n",
        tiny_encoder,
        tiny_head,
    )
    store = Store.open(settings.database_url)
    result = run_once(settings, store, now=NOW)
    by_name = {s.name: s for s in result.sources}
    assert by_name["good"].status == "ok" and by_name["good"].added == 1
    assert by_name["bad"].status == "error" and "not a valid RSS/Atom feed" in (by_name["bad"].error or "")
    assert by_name["dead"].status == "error" and "unreachable" in (by_name["dead"].error or "")
    assert by_name["gone"].status == "disabled"
    run = store.recent_runs(1, kind="run")[0]
    assert run.status == "partial" and "bad:" in (run.error or "") and "dead:" in (run.error or "")
    again = run_once(settings, store, now=NOW + timedelta(hours=1))
    assert {s.name: s.status for s in again.sources}["gone"] == "disabled"
    assert ("/gone", 410) in Feeds.hits and Feeds.hits.count(("/gone", 410)) == 1  # not fetched again
    store.close()


def test_a_telegram_export_with_mixed_text_forms_service_messages_and_arabic(
    tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    export = {
        "name": "Resistance channel",
        "type": "public_channel",
        "id": 1234567,
        "messages": [
            {"id": 1, "type": "service", "date": "2023-10-17T08:00:00", "action": "create_channel", "text": ""},
            {
                "id": 2,
                "type": "message",
                "date": "2023-10-17T09:00:00",
                "date_unixtime": "1697522400",
                "text": "Our fighters targeted the base.",
            },
            {
                "id": 3,
                "type": "message",
                "date": "2023-10-17T10:00:00",
                "date_unixtime": "1697526000",
                "text": ["Statement: ", {"type": "bold", "text": "death to the occupiers"}, " #resistance"],
            },
            {
                "id": 4,
                "type": "message",
                "date": "2023-10-17T11:00:00",
                "date_unixtime": "1697529600",
                "text": "المقاومة الإسلامية تعلن استهداف القاعدة",
            },
            {
                "id": 5,
                "type": "message",
                "date": "2023-10-17T12:00:00",
                "date_unixtime": "1697533200",
                "text": "",
                "photo": "photos/1.jpg",
            },
        ],
    }
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    settings = settings_with(
        tmp_path, f"  - {{name: tg, kind: telegram, path: '{folder}', actor: IRI}}\n", tiny_encoder, tiny_head
    )
    store = Store.open(settings.database_url)
    result = run_once(settings, store, now=NOW)
    assert [(s.status, s.read, s.added, s.rejected) for s in result.sources] == [("ok", 3, 3, 0)]
    docs = {d.external_id: d for d in store.iter_documents()}
    assert docs["3"].text == "Statement: death to the occupiers #resistance"
    assert docs["2"].published_at == datetime(2023, 10, 17, 6, 0, tzinfo=UTC)
    assert docs["4"].text == "المقاومة الإسلامية تعلن استهداف القاعدة" and docs["4"].actor == "IRI"
    assert docs["2"].url == "https://t.me/c/1234567/2"
    assert run_once(settings, store, now=NOW + timedelta(hours=1)).added == 0
    store.close()


def test_a_second_run_is_refused_while_one_holds_the_lock(tmp_path: Path, tiny_encoder: Path, tiny_head: Path) -> None:
    settings = settings_with(tmp_path, "  []\n", tiny_encoder, tiny_head)
    store = Store.open(settings.database_url)
    # The lock is taken on the real clock, because the `tracker run` below reads the real clock: a fixed date
    # here would expire some day and let that run through.
    held_at = datetime.now(UTC)
    assert store.acquire_lock(RUN_LOCK, "other-host:4242", held_at, timedelta(hours=2)) is None
    with pytest.raises(TrackerError, match=r"another tracker run is in progress .other-host:4242"):
        run_once(settings, store, now=held_at)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(tmp_path / "config.yaml"), "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert cli.returncode == 1 and "another tracker run is in progress" in cli.stderr and "Traceback" not in cli.stderr
    assert run_once(settings, store, now=held_at + timedelta(hours=3)).run_id > 0  # an expired lock is taken over
    store.close()


def test_tracker_run_honours_the_ingest_settings_and_names_every_rejected_row(
    tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "channel.csv").write_text(
        "body,when,who\n"
        "Our fighters struck the base,17/10/2023 09:30,KH\n"  # line 2: good, Baghdad time
        ",17/10/2023 10:00,KH\n"  # line 3: no text
        "Talks resume in Baghdad,2023-13-45,KH\n"  # line 4: a date no format reads
        "Calm returns to the city,18/10/2023 23:15,KH\n",  # line 5: good, the next UTC day is not reached
        encoding="utf-8",
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\n"
        "ingest:\n  timezone: Asia/Baghdad\n  date_formats: ['%d/%m/%Y %H:%M']\n"
        "  columns: {text: body, published_at: when, actor: who}\n"
        "scoring:\n  precision: fp32\n  detect_language: false\n  models:\n    en:\n"
        f"      name: tiny\n      path: {tiny_encoder}\n      head: {tiny_head}\n"
        f"sources:\n  - {{name: chan, kind: files, path: '{data}/*.csv', language: en}}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(config), "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    csv_path = data / "channel.csv"
    assert f"rejected {csv_path}:3: missing text (column 'body' is empty)" in result.stderr
    assert f"rejected {csv_path}:4: cannot parse published_at '2023-13-45'" in result.stderr
    assert "read 2, added 2, rejected 2" in result.stdout
    logs = list((tmp_path / "home" / "logs").glob("run-*-rejected.txt"))
    assert len(logs) == 1
    assert [line.split(": ", 1)[0] for line in logs[0].read_text(encoding="utf-8").splitlines()] == [
        f"{csv_path}:3",
        f"{csv_path}:4",
    ]
    settings = load_settings(config, env={})
    store = Store.open(settings.database_url)
    docs = {d.text: d for d in store.iter_documents()}
    assert set(docs) == {"Our fighters struck the base", "Calm returns to the city"}
    assert docs["Our fighters struck the base"].published_at == datetime(2023, 10, 17, 6, 30, tzinfo=UTC)
    assert docs["Calm returns to the city"].published_at == datetime(2023, 10, 18, 20, 15, tzinfo=UTC)
    assert {d.actor for d in docs.values()} == {"KH"} and {d.source for d in docs.values()} == {"chan"}
    store.close()


def test_tracker_run_exits_3_naming_what_failed_when_a_source_or_a_delivery_fails(
    tmp_path: Path, server: str, tiny_encoder: Path, tiny_head: Path
) -> None:
    from tracker.pipeline.run import CycleResult, SourceStatus

    Feeds.content["/good.xml"] = rss([("g1", "Ceasefire holds", "Calm returns")])
    settings_with(
        tmp_path,
        "  - {name: dead, kind: rss, url: 'http://127.0.0.1:9/none.xml', language: en, timeout: 2}\n"
        f"  - {{name: good, kind: rss, url: '{server}/good.xml', language: en}}\n",
        tiny_encoder,
        tiny_head,
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_HOME", None)
    cli = subprocess.run(
        [sys.executable, "-m", "tracker", "--config", str(tmp_path / "config.yaml"), "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert cli.returncode == 3, cli.stderr
    assert "failed: source dead: http://127.0.0.1:9/none.xml: unreachable" in cli.stderr
    assert "good" in cli.stdout and "added 1 documents" in cli.stdout and "Traceback" not in cli.stderr
    # deliveries count too, and the summary says how many failed
    result = CycleResult(7, [SourceStatus("good", "rss", "ok")], alerts={"opened": 6, "sent": 2, "failed": 4})
    assert result.failures == ["4 alert deliveries failed (kept in the outbox for the next run)"]
    assert result.counts()["alerts_failed"] == 4


def test_a_run_killed_with_sigkill_does_not_block_the_next_one(
    tmp_path: Path, server: str, tiny_encoder: Path, tiny_head: Path
) -> None:
    """Issue 13, fault 3: the killed run's lock is taken over at once on the same host (its process is gone),
    its run record says aborted, and `tracker status` shows who holds the lock while a run works."""
    import signal

    settings = settings_with(
        tmp_path, f"  - {{name: slow, kind: rss, url: '{server}/drip', language: en, timeout: 60}}\n", tiny_encoder,
        tiny_head,
    )  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("TRACKER_HOME", None)
    cmd = [sys.executable, "-m", "tracker", "--config", str(tmp_path / "config.yaml")]
    first = subprocess.Popen([*cmd, "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = Store.open(settings.database_url)
    deadline = time.monotonic() + 120
    while store.lock_holder(RUN_LOCK) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    held = store.lock_holder(RUN_LOCK)
    assert held is not None and held["holder"].endswith(f":{first.pid}")
    status = subprocess.run([*cmd, "status", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert json.loads(status.stdout)["locks"][0]["holder"] == held["holder"]
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    Feeds.content["/drip"] = rss([("q1", "Calm returns", "Quiet")])  # the next run finds a normal feed
    settings_with(
        tmp_path, f"  - {{name: slow, kind: rss, url: '{server}/fast', language: en}}\n", tiny_encoder, tiny_head
    )
    Feeds.content["/fast"] = rss([("q1", "Calm returns", "Quiet")])
    began = time.monotonic()
    second = subprocess.run([*cmd, "run"], env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert time.monotonic() - began < 60  # no waiting for the 2-hour (or 5-minute) expiry
    assert "taken over" in second.stderr
    runs = {r.id: r for r in store.recent_runs(10, kind="run")}
    killed = min(runs.values(), key=lambda r: r.id)
    assert killed.status == "aborted" and f"{held['holder']} is gone" in (killed.error or "")
    assert max(runs.values(), key=lambda r: r.id).status == "ok"
    assert store.lock_holder(RUN_LOCK) is None
    store.close()


def test_a_slow_drip_feed_fails_within_its_timeout_and_the_other_sources_go_on(
    tmp_path: Path, server: str, tiny_encoder: Path, tiny_head: Path
) -> None:
    """Issue 13, fault 1: a server sending a byte every half second never trips a per-read timeout; the whole
    fetch has a deadline now."""
    Feeds.content["/good.xml"] = rss([("g1", "Ceasefire holds", "Calm returns")])
    settings = settings_with(
        tmp_path,
        f"  - {{name: slow, kind: rss, url: '{server}/drip', language: en, timeout: 3}}\n"
        f"  - {{name: good, kind: rss, url: '{server}/good.xml', language: en}}\n",
        tiny_encoder,
        tiny_head,
    )
    store = Store.open(settings.database_url)
    began = time.monotonic()
    result = run_once(settings, store, now=NOW)
    assert time.monotonic() - began < 120
    by_name = {s.name: s for s in result.sources}
    assert by_name["slow"].status == "error" and "no complete answer within 3 s" in (by_name["slow"].error or "")
    assert by_name["good"].status == "ok" and by_name["good"].added == 1
    store.close()


def test_a_gzip_bomb_stops_at_the_size_cap_in_bounded_memory(
    tmp_path: Path, server: str, tiny_encoder: Path, tiny_head: Path
) -> None:
    """Issue 13, fault 1: 1 GB of zeros gzip-compressed; `tracker run` reads at most max_mb of it. The run's peak
    memory (resident set, from the kernel) stays within 100 MB of the same run against a feed that is gone (the
    same imports and stages, no body): the bomb is never held; the source fails with its reason."""
    gzip_bomb()  # built once, in this process

    def peak_of_run(folder: Path, path: str) -> tuple[str, int, str]:
        folder.mkdir()
        settings_with(
            folder, f"  - {{name: bomb, kind: rss, url: '{server}{path}', language: en}}\n", tiny_encoder, tiny_head
        )
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        env.pop("TRACKER_HOME", None)
        probe = (
            "import resource, subprocess, sys; "
            f"p = subprocess.run([sys.executable, '-m', 'tracker', '--config', {str(folder / 'config.yaml')!r}, "
            "'run'], "
            "capture_output=True, text=True); "
            "print(p.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); print(p.stderr)"
        )
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300)
        code, peak_kb, stderr = out.stdout.split("\n", 2)
        return code, int(peak_kb), stderr

    base_code, base_kb, _ = peak_of_run(tmp_path / "gone", "/gone")
    code, peak_kb, stderr = peak_of_run(tmp_path / "bomb", "/bomb")
    assert base_code in ("0", "3") and code == "3", stderr  # a feed that is gone is disabled, not failed
    assert "over 20 MB once decompressed" in stderr and "failed: source bomb" in stderr
    assert peak_kb - base_kb < 100 * 1024, (
        f"peak resident memory {peak_kb / 1024:.0f} MB against {base_kb / 1024:.0f} MB"
    )


def test_feeds_keep_the_full_entry_body_and_date_undated_entries_by_the_fetch(
    tmp_path: Path, server: str, tiny_encoder: Path, tiny_head: Path
) -> None:
    """Issue 13, fault 6: content:encoded / Atom content is the text (not the 37-character title), and an entry
    with no date at all is kept, dated by the fetch and flagged as estimated."""
    body = " ".join(f"<p>Paragraph {i} of the statement, with its details and names.</p>" for i in range(25))
    Feeds.content["/full.xml"] = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>B</title>'
        "<entry><id>urn:x:1</id><title>Statement on the events of Tuesday</title>"
        "<updated>2023-10-18T10:00:00Z</updated><summary>Short.</summary>"
        f'<content type="html">{html.escape(body)}</content></entry></feed>'
    ).encode()
    Feeds.content["/undated.xml"] = (
        b'<?xml version="1.0"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        b"<channel><title>W</title><item><guid>u1</guid><title>No date here</title>"
        b"<content:encoded><![CDATA[<p>The whole text of the undated item.</p>]]></content:encoded></item>"
        b"</channel></rss>"
    )
    settings = settings_with(
        tmp_path,
        f"  - {{name: full, kind: rss, url: '{server}/full.xml', language: en}}\n"
        f"  - {{name: undated, kind: rss, url: '{server}/undated.xml', language: en}}\n",
        tiny_encoder,
        tiny_head,
    )
    store = Store.open(settings.database_url)
    result = run_once(settings, store, now=NOW)
    assert [(s.name, s.added, s.rejected) for s in result.sources] == [("full", 1, 0), ("undated", 1, 0)]
    docs = {d.source: d for d in store.iter_documents()}
    assert len(docs["full"].text) > 1000 and "Paragraph 24 of the statement" in docs["full"].text
    assert "<p>" not in docs["full"].text and not docs["full"].date_estimated
    assert docs["undated"].text.endswith("The whole text of the undated item.")
    assert docs["undated"].published_at == NOW and docs["undated"].date_estimated
    store.close()


def test_a_full_account_telegram_export_with_forwards_polls_and_text_links(
    tmp_path: Path, tiny_encoder: Path, tiny_head: Path
) -> None:
    """Issue 13, fault 7: "Export Telegram data" (chats.list[].messages) is read, forwarded posts keep who they
    came from, a poll keeps its question, a link written as text keeps its URL; `tracker ingest result.json`
    works, with each chat as its source."""
    export = {
        "about": "Here is the data you requested.",
        "chats": {
            "about": "This page lists all chats from this export.",
            "list": [
                {
                    "name": "Channel A",
                    "type": "public_channel",
                    "id": 111,
                    "messages": [
                        {
                            "id": 1,
                            "type": "message",
                            "date_unixtime": "1697522400",
                            "text": "Statement of the Islamic Resistance.",
                            "forwarded_from": "Sabereen News",
                        },
                        {
                            "id": 2,
                            "type": "message",
                            "date_unixtime": "1697526000",
                            "text": [
                                "Read the statement ",
                                {"type": "text_link", "text": "here", "href": "https://x.org/s"},
                            ],
                        },
                    ],
                },
                {
                    "name": "Channel B",
                    "type": "public_channel",
                    "id": 222,
                    "messages": [
                        {
                            "id": 1,
                            "type": "message",
                            "date_unixtime": "1697529600",
                            "text": "",
                            "poll": {
                                "question": "Should the occupation leave?",
                                "answers": [{"text": "Yes"}, {"text": "Now"}],
                            },
                        }
                    ],
                },
            ],
        },
    }
    folder = tmp_path / "full"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps(export), encoding="utf-8")
    settings = settings_with(tmp_path, f"  - {{name: tg, kind: telegram, path: '{folder}'}}\n", tiny_encoder, tiny_head)
    store = Store.open(settings.database_url)
    result = run_once(settings, store, now=NOW)
    assert [(s.status, s.read, s.added) for s in result.sources] == [("ok", 3, 3)]
    docs = {d.external_id: d for d in store.iter_documents()}
    assert set(docs) == {"111:1", "111:2", "222:1"}  # message ids repeat across chats
    assert docs["111:1"].forwarded_from == "Sabereen News" and docs["111:2"].forwarded_from is None
    assert docs["111:2"].text == "Read the statement here (https://x.org/s)"
    assert docs["222:1"].text == "Should the occupation leave? (Yes / Now)"
    store.close()
    home = tmp_path / "ingest-home"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRACKER_HOME": str(home)}
    cmd = [
        sys.executable,
        "-m",
        "tracker",
        "--config",
        str(tmp_path / "config.yaml"),
        "ingest",
        str(folder / "result.json"),
    ]
    ingested = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert ingested.returncode == 0, ingested.stderr
    assert "read 3 rows from 1 file(s): added 3" in ingested.stdout
    with Store.open(f"sqlite:///{home / 'tracker.db'}") as by_cli:
        assert {d.source for d in by_cli.iter_documents()} == {"Channel A", "Channel B"}


def test_the_heartbeat_keeps_the_run_lock_alive_from_its_thread(tmp_path: Path) -> None:
    from tracker.pipeline.run import HEARTBEAT_TTL, Heartbeat

    store = Store.open(f"sqlite:///{tmp_path / 'hb.db'}")
    assert store.acquire_lock(RUN_LOCK, "me:1", NOW, timedelta(seconds=1)) is None
    ticks = iter(range(1000))
    with Heartbeat(store, RUN_LOCK, "me:1", lambda: NOW + timedelta(minutes=next(ticks)), every=0.05):
        time.sleep(0.4)
    held = store.lock_holder(RUN_LOCK)
    assert held is not None and held["expires_at"] >= NOW + HEARTBEAT_TTL + timedelta(minutes=2)  # refreshed
    store.close()
