"""RSS and Atom feeds: `fetch_feed` (httpx: timeouts, a User-Agent, redirects, conditional GET with the stored
ETag / Last-Modified) is I/O; `parse_feed` (feedparser) is pure."""

from __future__ import annotations

import calendar
import html
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from tracker.errors import SourceError

USER_AGENT = "tracker/0.1 (+https://github.com/; hostility trend monitor)"
_TAGS = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class FeedResponse:
    status: int  # 200, 304 (not modified) or 410 (gone)
    content: bytes
    etag: str | None
    last_modified: str | None


def fetch_feed(
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    timeout: float = 20.0,
    max_bytes: int = 20_000_000,
    transport: httpx.BaseTransport | None = None,
) -> FeedResponse:
    """GET the feed; 304 and 410 are answers, other failures raise SourceError with the reason.

    `timeout` bounds the whole fetch (a server that sends a byte every few seconds never trips a per-read
    timeout), and `max_bytes` the body after decompression (a gzip bomb stops at the cap, in bounded memory)."""
    headers = {
        "User-Agent": USER_AGENT,
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    deadline = time.monotonic() + timeout
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, transport=transport) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code in (304, 410):
                return FeedResponse(response.status_code, b"", etag, last_modified)
            if response.status_code >= 400:
                raise SourceError(f"{url}: HTTP {response.status_code}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise SourceError(
                        f"{url}: the feed is over {max_bytes / 1e6:g} MB once decompressed; the source failed "
                        "this run (raise its max_mb if the feed is really that big)"
                    )
                if time.monotonic() > deadline:
                    raise SourceError(
                        f"{url}: no complete answer within {timeout:g} s (the source's timeout, for the whole "
                        "fetch); the source failed this run"
                    )
            return FeedResponse(
                response.status_code, bytes(body), response.headers.get("ETag"), response.headers.get("Last-Modified")
            )
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: unreachable ({type(exc).__name__}: {exc})".splitlines()[0]) from None


def _text(value: str) -> str:
    return " ".join(html.unescape(_TAGS.sub(" ", value or "")).split())


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    return None


def parse_feed(content: bytes, url: str, fetched_at: datetime | None = None) -> list[dict[str, Any]]:
    """Rows for parse_row: id (entry id, else link), text (the full body when the entry has one, RSS
    content:encoded or Atom content, else title + summary; HTML reduced to text), published_at (published, else
    updated, else `fetched_at` with date_estimated set), url. A document that is not a feed raises SourceError."""
    import feedparser

    feed = feedparser.parse(content)
    if feed.bozo and not feed.entries:
        reason = getattr(feed.get("bozo_exception"), "getMessage", lambda: str(feed.get("bozo_exception")))()
        raise SourceError(f"{url}: not a valid RSS/Atom feed ({reason})".splitlines()[0])
    rows = []
    for entry in feed.entries:
        title = _text(entry.get("title", ""))
        body = max((_text(c.get("value", "")) for c in entry.get("content") or []), key=len, default="")
        summary = body or _text(entry.get("summary", "") or entry.get("description", ""))
        text = title if not summary or summary.startswith(title) else f"{title}. {summary}" if title else summary
        if summary.startswith(title) and summary:
            text = summary
        when = _when(entry)
        estimated = when is None and fetched_at is not None
        when = when or fetched_at
        rows.append(
            {
                "id": entry.get("id") or entry.get("link") or None,
                "text": text,
                "published_at": when.isoformat() if when else None,
                "url": entry.get("link"),
                "date_estimated": estimated,
            }
        )
    return rows
