"""PURE: the statements behind a move, for `tracker explain`: in a period and scope, the most hostile, the most
copied (forwards, reposts and edited copies of one story, by any source), and the hostile ones that are new
against the week before; with the period's numbers against the week before.
Takes rows as `tracker export` reads them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tracker.formatting import pct

HOSTILE = 3


@dataclass(frozen=True)
class Item:
    text: str
    level: int
    hostility: float
    first_seen: str
    sources: tuple[str, ...]
    copies: int
    url: str | None
    actor: str | None
    text_hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "level": self.level,
            "hostility": round(self.hostility, 3),
            "first_seen": self.first_seen,
            "sources": list(self.sources),
            "copies": self.copies,
            "url": self.url,
            "actor": self.actor,
        }


@dataclass(frozen=True)
class Explanation:
    start: date
    end: date
    scope: str
    documents: int
    mean_hostility: float
    hostile_share: float
    prior_documents: int
    prior_mean_hostility: float
    prior_hostile_share: float
    most_hostile: list[Item] = field(default_factory=list)
    most_copied: list[Item] = field(default_factory=list)
    new_hostile: list[Item] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "scope": self.scope,
            "documents": self.documents,
            "mean_hostility": _round(self.mean_hostility),
            "hostile_share": _round(self.hostile_share),
            "prior_week": {
                "documents": self.prior_documents,
                "mean_hostility": _round(self.prior_mean_hostility),
                "hostile_share": _round(self.prior_hostile_share),
            },
            "most_hostile": [i.as_dict() for i in self.most_hostile],
            "most_copied": [i.as_dict() for i in self.most_copied],
            "new_hostile": [i.as_dict() for i in self.new_hostile],
        }


def _round(x: float) -> float | None:
    return None if x != x else round(x, 4)


def _stats(rows: list[Mapping[str, Any]]) -> tuple[int, float, float]:
    scored = [r for r in rows if r.get("level") is not None]
    if not scored:
        return 0, float("nan"), float("nan")
    n = len(scored)
    return n, sum(float(r["hostility"]) for r in scored) / n, sum(int(r["level"]) >= HOSTILE for r in scored) / n


def _story(r: Mapping[str, Any]) -> str:
    """The story a row belongs to (forwards, reposts and edited copies grouped, tracker.stories); its exact text
    for a row not yet grouped."""
    return str(r.get("story_id") or r["text_hash"])


def _items(rows: list[Mapping[str, Any]]) -> list[Item]:
    """One item per story (its copies counted, its sources listed), at its first time."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("level") is not None:
            groups.setdefault(_story(r), []).append(r)
    items = []
    for copies in groups.values():
        first = min(copies, key=lambda r: str(r["published_at"]))
        items.append(
            Item(
                text=str(first["text"]),
                level=int(first["level"]),
                hostility=float(first["hostility"]),
                first_seen=str(first["published_at"]),
                sources=tuple(sorted({str(r["source"]) for r in copies})),
                copies=len(copies),
                url=first.get("url"),
                actor=first.get("actor"),
                text_hash=_story(first),
            )
        )
    return items


def explain(
    rows: Iterable[Mapping[str, Any]],
    prior_rows: Iterable[Mapping[str, Any]],
    *,
    start: date,
    end: date,
    scope: str,
    limit: int = 5,
) -> Explanation:
    """What moved the period from `start` to `end` against the week before it (`prior_rows`)."""
    now, before = list(rows), list(prior_rows)
    seen_before = {_story(r) for r in before}
    items = _items(now)
    n, mean, share = _stats(now)
    pn, pmean, pshare = _stats(before)
    hostile_new = [i for i in items if i.level >= HOSTILE and i.text_hash not in seen_before]
    return Explanation(
        start=start,
        end=end,
        scope=scope,
        documents=n,
        mean_hostility=mean,
        hostile_share=share,
        prior_documents=pn,
        prior_mean_hostility=pmean,
        prior_hostile_share=pshare,
        most_hostile=sorted(items, key=lambda i: (-i.hostility, i.first_seen))[:limit],
        most_copied=sorted((i for i in items if i.copies > 1), key=lambda i: (-i.copies, -i.hostility))[:limit],
        new_hostile=sorted(hostile_new, key=lambda i: (-i.hostility, i.first_seen))[:limit],
    )


def explanation_as_text(e: Explanation, excerpt: int = 200) -> str:
    """The readable form: the numbers against the week before, then each list with sources and links."""

    def num(x: float) -> str:
        return "n/a" if x != x else f"{x:.2f}"

    lines = [
        f"{e.scope}, {e.start}" + (f" to {e.end}" if e.end != e.start else "") + f": {e.documents:,} scored documents, "
        f"mean hostility {num(e.mean_hostility)}, hostile {pct(e.hostile_share)}; the week before: "
        f"{e.prior_documents:,}, {num(e.prior_mean_hostility)}, {pct(e.prior_hostile_share)}.",
    ]
    for title, items in (
        ("Most hostile", e.most_hostile),
        ("Most copied (forwards, reposts and edited copies of one story)", e.most_copied),
        ("New hostile statements (not seen the week before)", e.new_hostile),
    ):
        lines += ["", f"{title}:"]
        if not items:
            lines.append("  none")
        for n, i in enumerate(items, 1):
            text = " ".join(i.text.split())
            text = text if len(text) <= excerpt else text[: excerpt - 1] + "…"
            copies = f" · {i.copies} copies" if i.copies > 1 else ""
            lines.append(f"  {n}. [{i.first_seen[:16]} · level {i.level} · {i.hostility:.2f}{copies}] {text}")
            lines.append(f"     {', '.join(i.sources)}" + (f" · {i.url}" if i.url else ""))
    return "\n".join(lines)
