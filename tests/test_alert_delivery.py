"""Alerts end to end through a real store and real servers on 127.0.0.1: SMTP (aiosmtpd), a webhook (an
HTTP server), a JSONL file; the outbox keeps what could not be sent and sends it once, later."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import trustme
from aiosmtpd.controller import Controller

from tests.conftest import run_tracker
from tracker.config import load_settings
from tracker.errors import NotifyError
from tracker.models import Document, Score, document_id, text_hash
from tracker.notifiers.email import EmailNotifier
from tracker.notifiers.webhook import WebhookNotifier
from tracker.pipeline.alerts import deliver_outbox, make_notifiers, update_alerts
from tracker.storage import Store

VERSION = "test-model@1"
STEP = date(2024, 3, 1)
NOW = datetime(2024, 3, 3, 6, 0, tzinfo=UTC)  # evaluates up to 2 March: the step and the day after


def fill(store: Store, days: int = 90, volume: int = 30, after: int = 5) -> None:
    """Documents and scores: hostile share 10% until STEP, 80% from it (`after` days from STEP on)."""
    rng = np.random.default_rng(0)
    first = STEP - timedelta(days=days - after)
    docs, scores = [], []
    for d in range(days):
        day = first + timedelta(days=d)
        p = 0.8 if day >= STEP else 0.1
        for i in range(volume):
            level = 4 if rng.random() < p else int(rng.integers(0, 3))
            text = f"Statement {d}-{i}: " + ("our fighters struck the base" if level == 4 else "the council met today")
            when = datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(minutes=i)
            doc = Document(
                document_id("wire", f"{d}-{i}", text, when),
                "wire",
                text,
                text_hash(text),
                when,
                when,
                f"{d}-{i}",
                "Kataib Hezbollah" if i % 2 else "Harakat al-Nujaba",
                "en",
            )
            docs.append(doc)
            probs = [0.0] * 5
            probs[level] = 1.0
            scores.append(Score(doc.id, VERSION, level, level / 4, tuple(probs), when))  # type: ignore[arg-type]
    store.save_documents(docs)
    store.save_scores(scores)


def settings_for(tmp_path: Path, channels: str, extra: str = "", env: dict[str, str] | None = None) -> Any:
    config = tmp_path / "config.yaml"
    config.write_text(
        f"home: {tmp_path / 'home'}\nalerts:\n  channels: [{channels}]\n  initial_lookback_days: 10\n{extra}",
        encoding="utf-8",
    )
    return load_settings(config, env=env or {})


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[Store]:
    store = Store.open(f"sqlite:///{tmp_path / 'alerts.db'}")
    fill(store)
    yield store
    store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def test_file_channel_gets_one_message_per_alert_even_when_rerun(filled: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "file")
    first = update_alerts(settings, filled, now=NOW, versions=[VERSION])
    assert first.opened >= 1 and first.sent == first.opened
    lines = (tmp_path / "home" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    messages = [json.loads(line) for line in lines]
    spike = next(m for m in messages if m["data"]["rule"] == "violent_share" and m["data"]["scope"] == "overall")
    assert spike["data"]["kind"] == "open" and spike["data"]["day"] in ("2024-03-01", "2024-03-02")
    assert spike["data"]["share"] > 0.5 and spike["data"]["baseline_share"] < 0.2
    assert len(spike["data"]["statements"]) == 3
    assert all(s["level"] == 4 for s in spike["data"]["statements"])
    assert 'To silence: tracker alerts silence "overall"' in spike["text"]
    again = update_alerts(settings, filled, now=NOW, versions=[VERSION])
    assert (again.evaluated_days, again.opened, again.sent) == (0, 0, 0)
    assert len((tmp_path / "home" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()) == len(lines)
    assert len([a for a in filled.list_alerts() if a.rule != "regime_change"]) == first.opened


def test_a_regime_change_is_announced_once_when_it_has_held(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    store = Store.open(f"sqlite:///{tmp_path / 'home' / 'tracker.db'}")  # where `tracker alerts` looks
    fill(store, days=150, volume=10, after=40)
    settings = settings_for(tmp_path, "file", "  initial_lookback_days: 60\n")
    summary = update_alerts(settings, store, now=datetime(2024, 4, 10, 6, tzinfo=UTC), versions=[VERSION])
    lines = (tmp_path / "home" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    regime = [json.loads(line) for line in lines if json.loads(line)["data"]["kind"] == "regime_change"]
    assert summary.regime_changes == 1 and len(regime) == 1
    data = regime[0]["data"]
    assert data["severity"] == "escalation" and data["announced_before"] in ("normal", "calm")
    assert abs((date.fromisoformat(data["regime"]["start"]) - STEP).days) <= 7
    assert 14 <= (date.fromisoformat(data["day"]) - STEP).days <= 24  # held 14 days, confirmed on 3
    assert regime[0]["subject"].startswith("[tracker] Escalation") and "long run" in regime[0]["text"]
    assert all(s["level"] == 4 for s in data["statements"])
    again = update_alerts(settings, store, now=datetime(2024, 4, 10, 6, tzinfo=UTC), versions=[VERSION])
    assert again.regime_changes == 0 and again.evaluated_days == 0
    assert len((tmp_path / "home" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()) == len(lines)
    current = [a for a in store.list_alerts() if a.rule == "regime_change" and a.resolved_at is None]
    assert [a.severity for a in current] == ["escalation"]
    listed = run_tracker("alerts", "--days", "3650", home=tmp_path / "home")
    assert "escalation regime in overall" in listed.stdout, listed.stdout
    store.close()


def test_a_silenced_scope_records_the_alert_but_sends_nothing(filled: Store, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "file")
    filled.add_silence("*", date(2024, 3, 31), "exercise week", NOW)
    summary = update_alerts(settings, filled, now=NOW, versions=[VERSION])
    assert summary.opened >= 1 and summary.silenced == summary.opened and summary.sent == 0
    assert not (tmp_path / "home" / "alerts.jsonl").exists()
    assert filled.active_silences(date(2024, 3, 3))[0]["reason"] == "exercise week"


@pytest.mark.parametrize("security", ["none", "starttls", "ssl"])
def test_email_reaches_a_real_smtp_server_with_the_chart_attached(filled: Store, tmp_path: Path, security: str) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    inbox = Inbox()
    port = free_port()
    kwargs: dict[str, Any] = {"hostname": "127.0.0.1", "port": port}
    if security == "starttls":
        kwargs.update(tls_context=server_ctx, require_starttls=True)
    elif security == "ssl":
        kwargs.update(ssl_context=server_ctx)
    controller = Controller(inbox, **kwargs)
    controller.start()
    try:
        settings = settings_for(tmp_path, "email")
        notifier = EmailNotifier(
            host="127.0.0.1",
            port=port,
            security=security,
            sender="tracker@example.org",
            recipients=["desk@example.org"],
            ssl_context=client_ctx,
            timeout=10,
        )
        summary = update_alerts(settings, filled, now=NOW, versions=[VERSION], notifiers={"email": notifier})
    finally:
        controller.stop()
    assert summary.sent == summary.opened >= 1 and summary.failed == 0
    assert len(inbox.messages) == summary.sent
    mail = next(m for m in inbox.messages if "violent_share in overall" in m["Subject"])
    assert mail["To"] == "desk@example.org"
    body = next(p for p in mail.walk() if p.get_content_type() == "text/plain").get_content()
    assert "against a median of" in body and "Most hostile statements" in body
    charts = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert charts and charts[0].get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"


def test_with_smtp_down_the_alert_waits_and_is_sent_once_when_it_is_back(filled: Store, tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    settings = settings_for(tmp_path, "email")
    notifier = EmailNotifier(
        host="127.0.0.1", port=port, security="none", sender="t@example.org", recipients=["desk@example.org"], timeout=5
    )
    down = update_alerts(settings, filled, now=NOW, versions=[VERSION], notifiers={"email": notifier})
    assert down.opened >= 1 and down.sent == 0 and down.failed == down.opened
    waiting = filled.pending_outbox()
    assert len(waiting) == down.opened and all(r["attempts"] == 1 and r["last_error"] for r in waiting)

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        back = update_alerts(settings, filled, now=NOW, versions=[VERSION], notifiers={"email": notifier})
        later = update_alerts(
            settings, filled, now=NOW + timedelta(hours=1), versions=[VERSION], notifiers={"email": notifier}
        )
    finally:
        controller.stop()
    assert back.opened == 0 and back.sent == down.opened
    assert later.sent == 0
    assert len(inbox.messages) == down.opened
    assert filled.pending_outbox() == []


class Hook(BaseHTTPRequestHandler):
    replies: ClassVar[list[tuple[int, dict[str, str]]]] = []
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append({"json": json.loads(body), "headers": dict(self.headers)})
        status, headers = Hook.replies.pop(0) if Hook.replies else (200, {})
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_url() -> Iterator[str]:
    Hook.replies, Hook.received = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()
    server.server_close()


def test_webhook_posts_slack_text_and_the_alert_and_respects_429(filled: Store, tmp_path: Path, hook_url: str) -> None:
    Hook.replies = [(429, {"Retry-After": "2"}), (200, {})]
    waits: list[float] = []
    notifier = WebhookNotifier(hook_url, retries=3, backoff=0.01, sleep=waits.append)
    settings = settings_for(tmp_path, "webhook")
    summary = update_alerts(settings, filled, now=NOW, versions=[VERSION], notifiers={"webhook": notifier})
    assert summary.sent == summary.opened >= 1
    assert waits[0] == 2.0  # Retry-After honoured
    assert len(Hook.received) == summary.sent + 1  # one retry after the 429
    payload = Hook.received[-1]["json"]
    assert payload["text"].startswith("*[tracker]") and payload["alert"]["kind"] == "open"
    assert Hook.received[-1]["headers"]["Idempotency-Key"]


def test_webhook_gives_up_after_its_retries_and_the_message_waits(filled: Store, tmp_path: Path, hook_url: str) -> None:
    Hook.replies = [(503, {})] * 20
    notifier = WebhookNotifier(hook_url, retries=2, backoff=0.0, sleep=lambda s: None)
    with pytest.raises(NotifyError, match="after 3 attempts"):
        from tracker.alerts import AlertMessage

        notifier.send(AlertMessage("s", "t", {"kind": "open"}))
    settings = settings_for(tmp_path, "webhook")
    summary = update_alerts(settings, filled, now=NOW, versions=[VERSION], notifiers={"webhook": notifier})
    assert summary.sent == 0 and summary.failed >= 1 and filled.pending_outbox()
    Hook.replies = []
    deliver_outbox(filled, {"webhook": WebhookNotifier(hook_url, sleep=lambda s: None)}, NOW)
    assert filled.pending_outbox() == []


def test_notifiers_take_their_secrets_from_the_environment_read_at_load(tmp_path: Path) -> None:
    extra = "  email: {password_env: SMTP_PW, username_env: SMTP_USER, recipients: [a@b.c]}\n"
    settings = settings_for(tmp_path, "file, email, webhook", extra)
    assert set(make_notifiers(settings)) == {"file"}  # the others wait for their secrets
    env = {"SMTP_PW": "pw", "SMTP_USER": "u", "TRACKER_WEBHOOK_URL": "http://127.0.0.1:9/h"}
    built = make_notifiers(settings_for(tmp_path, "file, email, webhook", extra, env))
    assert set(built) == {"file", "email", "webhook"}


def test_backtest_on_the_demo_corpus(demo_home: Path) -> None:
    result = run_tracker("backtest", "--from", "2021-02-01", "--to", "2024-06-30", "--json", home=demo_home)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert 1 <= len(found) < 15
    spikes = [a for a in found if a["rule"] != "regime_change"]
    assert all(
        set(a) >= {"scope", "opened_at", "resolved_at", "severity", "peak_share", "baseline_share"} for a in spikes
    )
    opened = [date.fromisoformat(a["opened_at"]) for a in spikes]
    assert any(date(2023, 10, 17) <= d <= date(2023, 10, 27) for d in opened)
    assert not any(date(2022, 11, 15) <= d <= date(2023, 5, 15) for d in opened)
    # Regime changes as the job would have announced them: the calm after the new government, the 2023 wave,
    # and its end; each within 21 days of where the whole history puts it (2022-10-27, 2023-10-13, 2024-02-01).
    changes = {a["severity"]: date.fromisoformat(a["opened_at"]) for a in found if a["rule"] == "regime_change"}
    assert date(2022, 10, 27) < changes["calm"] <= date(2022, 11, 17) or changes["calm"] > date(2024, 2, 1)
    assert date(2023, 10, 6) <= changes["escalation"] <= date(2023, 11, 3)
    assert len([a for a in found if a["rule"] == "regime_change"]) <= 6


def test_a_webhook_repeat_carries_the_same_key_and_the_url_is_never_logged(
    hook_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13, faults 9 and 10: the URL is a secret (httpx logs every request URL at INFO unless quieted), and
    a message sent again after a crash carries the same Idempotency-Key."""
    import logging

    from tracker.alerts import AlertMessage
    from tracker.cli import configure_logging

    configure_logging()
    secret_url = hook_url.replace("/hook", "/hook/T0K3N-s3cr3t")
    message = AlertMessage("s", "t", {"fingerprint": "abc", "kind": "open", "day": "2023-10-18"})
    with caplog.at_level(logging.DEBUG):
        WebhookNotifier(secret_url, sleep=lambda s: None).send(message)
        WebhookNotifier(secret_url, sleep=lambda s: None).send(AlertMessage.from_json(message.to_json()))
    keys = [r["headers"]["Idempotency-Key"] for r in Hook.received]
    assert keys == ["abc:open:2023-10-18"] * 2
    assert "T0K3N" not in caplog.text
