"""Alerts appended to a JSONL file, one message per line."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tracker.alerts import AlertMessage
from tracker.errors import NotifyError


class FileNotifier:
    channel = "file"

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: AlertMessage) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(message), ensure_ascii=False) + "\n")
        except OSError as exc:
            raise NotifyError(f"cannot write alerts to {self.path}: {exc.strerror}") from None
