"""Telegram Desktop JSON exports: reading is I/O, parsing is pure.

Two shapes: a channel export (`result.json` with `messages`) and a full-account export ("Export Telegram
data": `chats.list[]`, each chat with its `messages`). `text` is a string or a list of entities (strings, or
objects with a `text`; a `text_link` keeps its URL); a poll is its question and answers; times come from
`date_unixtime` (UTC) when present, else `date` (read in the configured timezone). A forwarded post keeps who
it was forwarded from. Service messages and messages without text (media only) are skipped, not rejected."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tracker.errors import SourceError
from tracker.models import RowError


def flatten_text(text: Any) -> str:
    """The plain text of a message: entity lists joined in order; a link written as text keeps its URL."""
    if isinstance(text, str):
        return text
    if isinstance(text, list):
        parts = []
        for item in text:
            if isinstance(item, str):
                parts.append(item)
            elif isinstance(item, dict):
                shown = str(item.get("text", ""))
                href = item.get("href")
                parts.append(
                    f"{shown} ({href})" if item.get("type") == "text_link" and href and href != shown else shown
                )
        return "".join(parts)
    return ""


def _message_text(message: dict[str, Any]) -> str:
    text = flatten_text(message.get("text")).strip()
    poll = message.get("poll")
    if isinstance(poll, dict) and poll.get("question"):
        answers = [str(a.get("text", "")) for a in poll.get("answers") or [] if isinstance(a, dict)]
        question = f"{poll['question']} ({' / '.join(a for a in answers if a)})" if answers else str(poll["question"])
        text = f"{text}\n{question}".strip() if text else question
    return text


def parse_export(
    data: Any, path: str, *, source_from_chat: bool = False
) -> Iterator[tuple[int, dict[str, Any]] | RowError | None]:
    """Rows for parse_row (`id`, `text`, `published_at`, `url`, `forwarded_from`), None for a skipped message,
    or a RowError. With `source_from_chat` each row's source is its chat's name."""
    chats = _chats(data)
    if chats is None:
        yield RowError(path, 0, "not a Telegram Desktop export: expected 'messages', or 'chats' with a 'list'")
        return
    full = not isinstance(data.get("messages"), list)
    number = 0
    for chat in chats:
        for item in _chat_rows(chat, path, full=full, source_from_chat=source_from_chat):
            number += 1
            yield item if not isinstance(item, tuple) else (number, item[1])


def _chats(data: Any) -> list[dict[str, Any]] | None:
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        return [data]
    listed = (
        data.get("chats", {}).get("list") if isinstance(data, dict) and isinstance(data.get("chats"), dict) else None
    )
    if isinstance(listed, list):
        return [c for c in listed if isinstance(c, dict) and isinstance(c.get("messages"), list)]
    return None


def _chat_rows(
    data: dict[str, Any], path: str, *, full: bool, source_from_chat: bool
) -> Iterator[tuple[int, dict[str, Any]] | RowError | None]:
    channel = data.get("name") or ""
    channel_id = data.get("id")
    for index, message in enumerate(data["messages"], start=1):
        if not isinstance(message, dict):
            yield RowError(path, index, "message is not an object")
            continue
        if message.get("type") != "message":
            yield None  # service message (joins, pins, title changes)
            continue
        text = _message_text(message)
        if not text:
            yield None  # media without a caption
            continue
        when: Any = message.get("date_unixtime") or message.get("date")
        if isinstance(when, str) and when.isdigit():
            when = int(when)
        ident = str(message.get("id", ""))
        row = {
            "id": f"{channel_id}:{ident}" if full else ident,  # message ids repeat across chats
            "text": text,
            "published_at": when,
            "channel": channel,
            "forwarded_from": message.get("forwarded_from") or None,
        }
        if source_from_chat and channel:
            row["source"] = channel
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
