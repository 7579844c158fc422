"""Notifiers: one small interface (`send(message)`, raising NotifyError), one module per channel."""

from __future__ import annotations

from typing import Protocol

from tracker.alerts import AlertMessage


class Notifier(Protocol):
    channel: str

    def send(self, message: AlertMessage) -> None: ...
