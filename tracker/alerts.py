"""PURE: spike alerts: rules, decisions and messages. Evaluate one window against a robust trailing baseline,
move a scope's state machine (pending -> firing (open) -> repeat -> resolved, with warm-up, minimum volume,
hysteresis, cooldown and a repeat interval), and write the message an analyst receives. Takes values (series,
day, state, rule) and returns values.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from tracker.formatting import pct

MEASURES = {"hostile": "level 3 or 4 (threatening or violent)", "violent": "level 4 (violent)"}


@dataclass(frozen=True)
class AlertRule:
    """When a scope's share of hostile (or violent) documents counts as a spike. Defaults in config.yaml."""

    name: str = "hostile_share"
    measure: str = "hostile"  # hostile: level >= 3; violent: level 4
    window_days: int = 1
    baseline_days: int = 28
    warmup_days: int = 14
    min_documents: int = 5
    min_count: int = 2
    z_threshold: float = 3.0
    min_relative_change: float = 0.5
    severity_z: tuple[tuple[str, float], ...] = (("low", 3.0), ("medium", 5.0), ("high", 8.0))
    bypass_pending_at: str = "high"
    pending_windows: int = 2
    resolve_z: float = 1.0
    resolve_windows: int = 2
    cooldown_days: int = 7
    repeat_days: int = 3
    scale_floor: float = 0.05


@dataclass(frozen=True)
class Evaluation:
    """One rule on one scope for the window ending on `day`."""

    rule: str
    scope: str
    day: date
    documents: int
    count: int
    share: float
    baseline_share: float
    scale: float
    z: float
    relative_change: float
    history_days: int
    eligible: bool
    triggered: bool
    severity: str | None
    reason: str


def fingerprint(rule: str, scope: str) -> str:
    """Identity of an alert stream: from its labels only (rule, scope)."""
    return hashlib.sha256(f"{rule}\x1f{scope}".encode()).hexdigest()[:16]


def evaluate(series: pd.DataFrame, day: date, rule: AlertRule, scope: str) -> Evaluation:
    """The window ending on `day` against the `baseline_days` before it (window excluded).

    `series`: one row per day with columns period, documents, hostile, violent (days may be missing).
    Robust z = (window share - baseline median) / scale, scale = max(1.4826 * MAD of the daily shares, the
    binomial standard error of the baseline mean share at the window's volume, `scale_floor`)."""
    s = series.set_index(pd.to_datetime(series["period"]))
    end = pd.Timestamp(day)
    win_start = end - pd.Timedelta(days=rule.window_days - 1)
    base_start = win_start - pd.Timedelta(days=rule.baseline_days)
    window = s.loc[(s.index >= win_start) & (s.index <= end)]
    baseline = s.loc[(s.index >= base_start) & (s.index < win_start)]
    n = int(window["documents"].sum())
    k = int(window[rule.measure].sum())
    share = k / n if n else float("nan")
    with_data = s.index[s["documents"] > 0]
    history = int((win_start - with_data.min()).days) if len(with_data) and with_data.min() < win_start else 0
    days = baseline[baseline["documents"] > 0]
    shares = (days[rule.measure] / days["documents"]).to_numpy(dtype="float64")
    median = float(np.median(shares)) if shares.size else float("nan")
    mad = float(np.median(np.abs(shares - median))) if shares.size else float("nan")
    mean = float(days[rule.measure].sum() / days["documents"].sum()) if shares.size else float("nan")
    binomial = math.sqrt(mean * (1 - mean) / n) if n and shares.size else 0.0
    scale = max(1.4826 * mad if shares.size else 0.0, binomial, rule.scale_floor)
    z = (share - median) / scale if n and shares.size else float("nan")
    relative = (share - median) / median if median and n else (math.inf if n and share > 0 else 0.0)

    reason = ""
    if history < rule.warmup_days:
        reason = f"warming up ({history} of {rule.warmup_days} days of history)"
    elif n < rule.min_documents:
        reason = f"low volume ({n} documents < {rule.min_documents})"
    elif k < rule.min_count:
        reason = f"too few {rule.measure} documents ({k} < {rule.min_count})"
    elif not shares.size:
        reason = "no baseline"
    eligible = not reason
    triggered = eligible and z >= rule.z_threshold and relative >= rule.min_relative_change
    if eligible and not triggered:
        reason = f"z {z:.1f} < {rule.z_threshold}" if z < rule.z_threshold else f"change {relative:+.0%} too small"
    severity = severity_of(z, rule) if triggered else None
    return Evaluation(
        rule.name,
        scope,
        day,
        n,
        k,
        share,
        median,
        scale,
        z,
        relative,
        history,
        eligible,
        triggered,
        severity,
        reason or "triggered",
    )


def severity_of(z: float, rule: AlertRule) -> str | None:
    level = None
    for name, threshold in rule.severity_z:
        if z >= threshold:
            level = name
    return level


def _rank(severity: str | None, rule: AlertRule) -> int:
    names = [n for n, _ in rule.severity_z]
    return names.index(severity) if severity in names else -1


@dataclass(frozen=True)
class Alert:
    """An alert as stored: opened once per spike, updated while firing, resolved once."""

    fingerprint: str
    rule: str
    scope: str
    opened_at: date
    severity: str
    peak_share: float
    peak_z: float
    baseline_share: float
    documents: int
    last_notified: date | None = None
    resolved_at: date | None = None
    id: int | None = None


@dataclass(frozen=True)
class ScopeState:
    """Where one (rule, scope) stands between runs."""

    fingerprint: str
    rule: str
    scope: str
    pending: int = 0
    calm_windows: int = 0
    cooldown_until: date | None = None
    last_evaluated: date | None = None
    alert: Alert | None = None


@dataclass(frozen=True)
class Action:
    """What the shell must do: store and announce an opened, repeated or resolved alert."""

    kind: str  # open | repeat | resolve (spikes); baseline | open | close (regime changes)
    alert: Alert
    evaluation: Any  # an Evaluation, or for regime changes a tracker.regime_alerts.RegimeEvaluation


@dataclass
class Decision:
    state: ScopeState
    actions: list[Action] = field(default_factory=list)


def decide(state: ScopeState, ev: Evaluation, rule: AlertRule) -> Decision:
    """Advance one scope by one evaluated window. Re-deciding a day already evaluated changes nothing."""
    if state.last_evaluated is not None and ev.day <= state.last_evaluated:
        return Decision(state)
    state = replace(state, last_evaluated=ev.day)
    alert = state.alert
    if alert is not None:  # firing: update the peak, repeat, or resolve (with hysteresis)
        if ev.triggered and ev.z > alert.peak_z:
            alert = replace(alert, peak_z=ev.z, peak_share=ev.share, severity=ev.severity or alert.severity)
        quiet = not (ev.eligible and ev.z >= rule.resolve_z)
        calm = state.calm_windows + 1 if quiet else 0
        if calm >= rule.resolve_windows:
            resolved = replace(alert, resolved_at=ev.day, last_notified=ev.day)
            cooldown = ev.day + timedelta(days=rule.cooldown_days)
            return Decision(
                replace(state, alert=None, calm_windows=0, pending=0, cooldown_until=cooldown),
                [Action("resolve", resolved, ev)],
            )
        actions = []
        if alert.last_notified is None or (ev.day - alert.last_notified).days >= rule.repeat_days:
            alert = replace(alert, last_notified=ev.day)
            actions.append(Action("repeat", alert, ev))
        return Decision(replace(state, alert=alert, calm_windows=calm), actions)

    if not ev.triggered:
        return Decision(replace(state, pending=0))
    if state.cooldown_until is not None and ev.day <= state.cooldown_until:
        return Decision(replace(state, pending=0))
    pending = state.pending + 1
    bypass = _rank(ev.severity, rule) >= _rank(rule.bypass_pending_at, rule)
    if pending < rule.pending_windows and not bypass:
        return Decision(replace(state, pending=pending))
    opened = Alert(
        fingerprint=state.fingerprint,
        rule=rule.name,
        scope=ev.scope,
        opened_at=ev.day,
        severity=ev.severity or "low",
        peak_share=ev.share,
        peak_z=ev.z,
        baseline_share=ev.baseline_share,
        documents=ev.documents,
        last_notified=ev.day,
    )
    return Decision(replace(state, alert=opened, pending=0, calm_windows=0), [Action("open", opened, ev)])


def new_state(rule: AlertRule, scope: str) -> ScopeState:
    return ScopeState(fingerprint(rule.name, scope), rule.name, scope)


def replay(
    series: pd.DataFrame, rule: AlertRule, scope: str, start: date, end: date, state: ScopeState | None = None
) -> tuple[ScopeState, list[Action]]:
    """Evaluate every day from `start` to `end` in order, as if the job had run each day."""
    state = state or new_state(rule, scope)
    actions: list[Action] = []
    day = start
    while day <= end:
        decision = decide(state, evaluate(series, day, rule, scope), rule)
        state = decision.state
        actions.extend(decision.actions)
        day += timedelta(days=1)
    return state, actions


# --- messages ------------------------------------------------------------------------------------------

EXCERPT = 220


@dataclass(frozen=True)
class AlertMessage:
    """One message to deliver on every channel: email uses subject/text/attachments, the webhook text/data."""

    subject: str
    text: str
    data: dict[str, Any]
    attachments: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The same for every delivery of one alert event (rule and scope, open/repeat/resolve, day): receivers
        drop a repeat by it, since delivery is at least once."""
        return f"{self.data.get('fingerprint')}:{self.data.get('kind')}:{self.data.get('day')}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, default=str)

    @classmethod
    def from_json(cls, payload: str) -> AlertMessage:
        return cls(**json.loads(payload))


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
            f"Resolved on {ev.day}: the share of documents at {measure} in {a.scope} is back to {pct(ev.share)} "
            f"(baseline {pct(ev.baseline_share)}). Opened {a.opened_at}; peak {pct(a.peak_share)} (z {a.peak_z:.1f})."
        )
    else:
        verb = "Spike" if action.kind == "open" else "Still firing"
        subject = f"[tracker] {verb} ({a.severity}): {a.rule} in {a.scope}"
        head = (
            f"{verb} in {a.scope}: {pct(ev.share)} of {ev.documents} documents in the window were at {measure} "
            f"({ev.count} documents), against a median of {pct(ev.baseline_share)} over the previous "
            f"{baseline_days} days. Robust z {ev.z:.1f}, change {ev.relative_change:+.0%}, severity {a.severity}."
            + (f" Open since {a.opened_at}; peak {pct(a.peak_share)}." if action.kind == "repeat" else "")
        )
    lines = [head, f"Window: {window} (UTC).", ""]
    quoted: list[dict[str, Any]] = []
    if action.kind != "resolve":
        lines, quoted = quote_statements(lines, statements, "Most hostile statements in the window:")
    lines.append(silence_hint(a.scope, ev.day, silence_hint_days))
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


_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff]")


def quote_statements(
    lines: list[str], statements: Sequence[dict[str, Any]], title: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """The message lines with the statements quoted under `title` (excerpts), and the same as data."""
    if not statements:
        return lines, []
    lines = [*lines, title]
    quoted = []
    for i, s in enumerate(statements, 1):
        text = " ".join(_UNSAFE.sub(" ", str(s["text"])).split())  # one line, no control or bidi-override characters
        if len(text) > EXCERPT:
            text = text[: EXCERPT - 1].rstrip() + "…"
        when = s["published_at"]
        day = when.date().isoformat() if isinstance(when, datetime) else str(when)[:10]
        copies = int(s.get("copies", 1))
        note = f" · {copies} copies from {s.get('copy_sources', 1)} sources" if copies > 1 else ""
        lines.append(f"{i}. [{day} · {s['source']} · level {s['level']} · {float(s['hostility']):.2f}{note}] {text}")
        quoted.append(
            {
                "text": text,
                "source": s["source"],
                "date": day,
                "level": int(s["level"]),
                "hostility": round(float(s["hostility"]), 3),
                "actor": s.get("actor"),
                "copies": copies,
            }
        )
    return [*lines, ""], quoted


def silence_hint(scope: str, day: date, days: int = 7) -> str:
    return f'To silence: tracker alerts silence "{scope}" --until {day + timedelta(days=days)} --reason "..."'


def silenced(scope: str, day: date, active: Sequence[dict[str, Any]]) -> bool:
    """Whether a silence covers this scope on this day ("*" silences every scope)."""
    return any((s["scope"] in (scope, "*")) and s["until"] >= day for s in active)
