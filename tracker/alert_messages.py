"""PURE: the content of alert messages (subject, text, structured data), from values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tracker.alerts import MEASURES, Action

EXCERPT = 220


@dataclass(frozen=True)
class AlertMessage:
    """One message to deliver on every channel: email uses subject/text/attachments, the webhook text/data."""

    subject: str
    text: str
    data: dict[str, Any]
    attachments: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, payload: str) -> AlertMessage:
        return cls(**json.loads(payload))


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.0f}%"


def build_message(
    action: Action,
    *,
    window_days: int,
    baseline_days: int,
    statements: Sequence[dict[str, Any]],
    silence_hint_days: int = 7,
    attachments: Sequence[str] = (),
) -> AlertMessage:
    """What an analyst needs to act: scope, current vs baseline, volume, window, the most hostile statements,
    and how to silence."""
    a, ev = action.alert, action.evaluation
    measure = MEASURES.get(a.rule.split("_")[0], a.rule)
    first = ev.day - timedelta(days=window_days - 1)
    window = f"{ev.day}" if window_days == 1 else f"{first} to {ev.day}"
    if action.kind == "resolve":
        subject = f"[tracker] Resolved: {a.rule} spike in {a.scope}"
        head = (
            f"Resolved on {ev.day}: the share of documents at {measure} in {a.scope} is back to {_pct(ev.share)} "
            f"(baseline {_pct(ev.baseline_share)}). Opened {a.opened_at}; peak {_pct(a.peak_share)} (z {a.peak_z:.1f})."
        )
    else:
        verb = "Spike" if action.kind == "open" else "Still firing"
        subject = f"[tracker] {verb} ({a.severity}): {a.rule} in {a.scope}"
        head = (
            f"{verb} in {a.scope}: {_pct(ev.share)} of {ev.documents} documents in the window were at {measure} "
            f"({ev.count} documents), against a median of {_pct(ev.baseline_share)} over the previous "
            f"{baseline_days} days. Robust z {ev.z:.1f}, change {ev.relative_change:+.0%}, severity {a.severity}."
            + (f" Open since {a.opened_at}; peak {_pct(a.peak_share)}." if action.kind == "repeat" else "")
        )
    lines = [head, f"Window: {window} (UTC).", ""]
    quoted = []
    if statements and action.kind != "resolve":
        lines.append("Most hostile statements in the window:")
        for i, s in enumerate(statements, 1):
            text = " ".join(str(s["text"]).split())
            if len(text) > EXCERPT:
                text = text[: EXCERPT - 1].rstrip() + "…"
            when = s["published_at"]
            day = when.date().isoformat() if isinstance(when, datetime) else str(when)[:10]
            lines.append(f"{i}. [{day} · {s['source']} · level {s['level']} · {float(s['hostility']):.2f}] {text}")
            quoted.append(
                {
                    "text": text,
                    "source": s["source"],
                    "date": day,
                    "level": int(s["level"]),
                    "hostility": round(float(s["hostility"]), 3),
                    "actor": s.get("actor"),
                }
            )
        lines.append("")
    until = ev.day + timedelta(days=silence_hint_days)
    lines.append(f'To silence: tracker alerts silence "{a.scope}" --until {until} --reason "..."')
    data = {
        "kind": action.kind,
        "rule": a.rule,
        "scope": a.scope,
        "severity": a.severity,
        "day": ev.day.isoformat(),
        "window": {"from": first.isoformat(), "to": ev.day.isoformat(), "days": window_days},
        "documents": ev.documents,
        "count": ev.count,
        "share": None if ev.share != ev.share else round(ev.share, 4),
        "baseline_share": None if ev.baseline_share != ev.baseline_share else round(ev.baseline_share, 4),
        "z": None if ev.z != ev.z else round(ev.z, 2),
        "opened_at": a.opened_at.isoformat(),
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
        "peak_share": round(a.peak_share, 4),
        "fingerprint": a.fingerprint,
        "statements": quoted,
    }
    return AlertMessage(subject, "\n".join(lines), data, list(attachments))


def silenced(scope: str, day: date, active: Sequence[dict[str, Any]]) -> bool:
    """Whether a silence covers this scope on this day ("*" silences every scope)."""
    return any((s["scope"] in (scope, "*")) and s["until"] >= day for s in active)
