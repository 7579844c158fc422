"""Alerts as a JSON POST: a Slack-compatible `text` field plus the structured alert. Timeouts, retries with
exponential backoff, and 429 Retry-After respected. The URL comes from an environment variable."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from tracker.alerts import AlertMessage
from tracker.errors import NotifyError

MAX_RETRY_AFTER = 60.0


class WebhookNotifier:
    channel = "webhook"

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, self.timeout, self.retries, self.backoff = url, timeout, retries, backoff
        self.sleep = sleep
        self.transport = transport

    def send(self, message: AlertMessage) -> None:
        body = {"text": f"*{message.subject}*\n{message.text}", "alert": message.data}
        headers = {"Idempotency-Key": message.key}
        last = ""
        with httpx.Client(timeout=self.timeout, transport=self.transport, follow_redirects=True) as client:
            for attempt in range(self.retries + 1):
                try:
                    response = client.post(self.url, json=body, headers=headers)
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    wait = self.backoff * 2**attempt
                else:
                    if response.status_code < 300:
                        return
                    last = f"HTTP {response.status_code}"
                    if response.status_code == 429:
                        wait = _retry_after(response, self.backoff * 2**attempt)
                    elif response.status_code >= 500:
                        wait = self.backoff * 2**attempt
                    else:
                        raise NotifyError(f"webhook refused the alert ({last}); check the URL and its permissions")
                if attempt < self.retries:
                    self.sleep(wait)
        raise NotifyError(f"webhook failed after {self.retries + 1} attempts ({last})")


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return default
