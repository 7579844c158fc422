"""Telegram Desktop JSON exports (`result.json` with `messages`): reading is I/O, parsing is pure.

`text` is a string or a list of entities (strings, or objects with a `text`); times come from
`date_unixtime` (UTC) when present, else `date` (read in the configured timezone). Service messages and
messages without text (media only) are skipped and counted, not rejected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker.errors import SourceError
from tracker.models import RowError


def flatten_text(text: Any) -> str:
    """The plain text of a message: entity lists joined in order."""
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        parts = []
        for item in text:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, dict):
                parts.append(str(item.get("text", "")))
        return "".join(parts)
    return ""


def parse_export(data: Any, path: str) -> Iterator[tuple[int, dict[str, Any]] | RowError | None]:
    """Rows for parse_row (`id`, `text`, `published_at`, `url`), None for a skipped message, or a RowError."""
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        yield RowError(path, 0, "not a Telegram Desktop export: expected an object with a 'messages' list")
        return
    channel = data.get("name") or ""
    channel_id = data.get("id")
    for index, message in enumerate(data["messages"], start=1):
        if not isinstance(message, dict):
            yield RowError(path, index, "message is not an object")
            continue
        if message.get("type") != "message":
            yield None  # service message (joins, pins, title changes)
            continue
        text = flatten_text(message.get("text")).strip()
        if not text:
            yield None  # media without a caption
            continue
        when: Any = message.get("date_unixtime") or message.get("date")
        if isinstance(when, str) and when.isdigit():
            when = int(when)
        row = {"id": str(message.get("id", "")), "text": text, "published_at": when, "channel": channel}
        if channel_id is not None and message.get("id") is not None:
            row["url"] = f"https://t.me/c/{channel_id}/{message['id']}"
        yield index, row


def read_export(path: Path) -> Any:
    """The export's JSON: a result.json file, or a folder holding one."""
    file = path / "result.json" if path.is_dir() else path
    try:
        with open(file, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise SourceError(f"{file}: no Telegram export here (expected result.json)") from None
    except UnicodeDecodeError:
        raise SourceError(f"{file}: not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{file}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
