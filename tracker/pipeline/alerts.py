"""Stage `alerts` (and `backtest`): evaluate new days and queue messages, deliver the outbox, replay history."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from tracker import trends
from tracker.alerts import (
    Action,
    AlertMessage,
    AlertRule,
    ScopeState,
    build_message,
    decide,
    evaluate,
    new_state,
    replay,
    silenced,
)
from tracker.config import AlertRuleSettings, Settings
from tracker.errors import NotifyError, TrackerError
from tracker.formatting import day_bounds, day_start
from tracker.notifiers import Notifier
from tracker.notifiers.email import EmailNotifier
from tracker.notifiers.file import FileNotifier
from tracker.notifiers.webhook import WebhookNotifier
from tracker.pipeline.score import current_versions
from tracker.pipeline.trends import compute_trends, make_charts, regime_rule
from tracker.regime_alerts import (
    RegimeAlertRule,
    build_regime_message,
    decide_regime,
    evaluate_regime,
    new_regime_state,
    replay_regimes,
)
from tracker.storage import Store

log = logging.getLogger(__name__)
COUNTERS = {"open": "opened", "repeat": "repeated", "resolve": "resolved"}
REGIME_COUNTERS = {"open": "regime_changes"}


def rule_of(r: AlertRuleSettings) -> AlertRule:
    """The pure rule from its validated settings (same field names; severities ordered by z)."""
    severities = tuple(sorted(r.severity_z.items(), key=lambda kv: kv[1]))
    return AlertRule(**{**r.model_dump(), "severity_z": severities})


def scope_series(
    store: Store,
    versions: Sequence[str],
    by: Sequence[str],
    since: date | None = None,
    until: date | None = None,
    unit: str = "stories",
) -> dict[str, pd.DataFrame]:
    """Daily series per scope: "overall", and "actor:NAME" (or source:/language:) for each `by`; `unit`:
    stories (copies count once) or documents."""
    lo, hi = day_bounds(since, until)
    out: dict[str, pd.DataFrame] = {}
    agg = store.daily_aggregates(versions, since=lo, until=hi, unit=unit)
    if not agg.empty:
        out["overall"] = trends.build_series(trends.overall(agg), start=since, end=until)
    for key_kind in by:
        agg = store.daily_aggregates(versions, by=key_kind, since=lo, until=hi, unit=unit)
        if agg.empty:
            continue
        series = trends.build_series(agg, start=since, end=until)
        for key, part in series.groupby("key"):
            out[f"{key_kind}:{key}"] = part.reset_index(drop=True)
    return out


def _scope_filter(scope: str) -> tuple[str | None, str | None]:
    if scope == "overall":
        return None, None
    kind, _, key = scope.partition(":")
    return kind, key


@dataclass
class AlertRunSummary:
    evaluated_days: int = 0
    opened: int = 0
    repeated: int = 0
    resolved: int = 0
    regime_changes: int = 0
    silenced: int = 0
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    errors: list[str] = field(default_factory=list)

    def as_counts(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


def update_alerts(
    settings: Settings,
    store: Store,
    *,
    now: datetime,
    notifiers: Mapping[str, Notifier] | None = None,
    versions: Sequence[str] | None = None,
) -> AlertRunSummary:
    """Evaluate every complete UTC day since the last run (the first run looks back
    `initial_lookback_days`), store alerts and queue their messages, then deliver the outbox.
    Re-running for the same days changes nothing and queues nothing."""
    cfg = settings.alerts
    summary = AlertRunSummary()
    versions = list(versions) if versions is not None else current_versions(settings, store)
    rules = [rule_of(r) for r in cfg.rules]
    end = now.date() - timedelta(days=1)
    first_start = end - timedelta(days=cfg.initial_lookback_days - 1)
    longest = max((r.baseline_days + r.window_days + r.warmup_days for r in rules), default=0)
    states = store.load_alert_states()
    starts = [s.last_evaluated + timedelta(days=1) for s in states.values() if s.last_evaluated] or [first_start]
    since = min([*starts, first_start]) - timedelta(days=longest + 1)
    series = scope_series(store, versions, cfg.by, since=since, until=end, unit=settings.trends.count)
    active = store.active_silences(end - timedelta(days=cfg.initial_lookback_days))
    for scope, frame in series.items():
        for rule in rules:
            state = states.get(new_state(rule, scope).fingerprint) or new_state(rule, scope)
            day = state.last_evaluated + timedelta(days=1) if state.last_evaluated else first_start
            if day > end:
                continue
            while day <= end:
                ev = evaluate(frame, day, rule, scope)
                decision = decide(state, ev, rule)
                summary.evaluated_days += 1
                if decision.actions:
                    quiet = silenced(scope, day, active)
                    channels = [] if quiet else list(cfg.channels)
                    summary.silenced += len(decision.actions) if quiet else 0
                    payloads = [_message(settings, store, versions, a, rule, now).to_json() for a in decision.actions]
                    ids = store.save_decision(decision.state, decision.actions, payloads, channels, now)
                    state = decision.state
                    if state.alert is not None and state.alert.id is None:
                        state = replace(state, alert=replace(state.alert, id=ids[-1]))
                    for a in decision.actions:
                        counter = COUNTERS[a.kind]
                        setattr(summary, counter, getattr(summary, counter) + 1)
                else:
                    state = decision.state
                day += timedelta(days=1)
            store.save_decision(state, [], [], [], now)
    if cfg.regime_changes.enabled:
        _update_regimes(settings, store, versions, first_start, end, active, now, summary)
    if notifiers is None:
        notifiers = make_notifiers(settings)
    deliver_outbox(store, notifiers, now, summary)
    return summary


def _regime_parts(settings: Settings) -> tuple[trends.Detector, trends.RegimeRule, RegimeAlertRule]:
    ts, rc = settings.trends, settings.alerts.regime_changes
    detector = trends.make_detector(ts.detector.name, **ts.detector.params())
    return (
        detector,
        regime_rule(settings),
        RegimeAlertRule(**rc.model_dump(exclude={"enabled"})),
    )


def _update_regimes(
    settings: Settings,
    store: Store,
    versions: Sequence[str],
    first_start: date,
    end: date,
    active: Sequence[dict[str, Any]],
    now: datetime,
    summary: AlertRunSummary,
) -> None:
    """Regime changes, day by day since each scope's last evaluation, on each scope's whole history."""
    detector, rule, alert_rule = _regime_parts(settings)
    states = store.load_alert_states()
    for scope, frame in scope_series(
        store, versions, settings.alerts.by, until=end, unit=settings.trends.count
    ).items():
        state = states.get(new_regime_state(scope).fingerprint) or new_regime_state(scope)
        day = state.last_evaluated + timedelta(days=1) if state.last_evaluated else first_start
        while day <= end:
            evaluation = evaluate_regime(frame, day, scope, detector, rule, alert_rule)
            decision = decide_regime(state, evaluation, alert_rule)
            summary.evaluated_days += 1
            if decision.actions:
                quiet = silenced(scope, day, active)
                channels = [] if quiet else list(settings.alerts.channels)
                announced = [a for a in decision.actions if a.kind == "open"]
                summary.silenced += len(announced) if quiet else 0
                summary.regime_changes += len(announced)
                payloads = [
                    _regime_message(store, versions, a).to_json() if a.kind == "open" else None
                    for a in decision.actions
                ]
                ids = store.save_decision(decision.state, decision.actions, payloads, channels, now)
                current = decision.state.alert
                state = replace(decision.state, alert=replace(current, id=ids[-1]) if current else None)
            else:
                state = decision.state
            day += timedelta(days=1)
        store.save_decision(state, [], [], [], now)


def _regime_message(store: Store, versions: Sequence[str], action: Action) -> AlertMessage:
    ev = action.evaluation
    kind, key = _scope_filter(ev.scope)
    statements = store.top_documents(
        versions, day_start(ev.current.start), day_start(ev.day + timedelta(days=1)), kind, key
    )
    return build_regime_message(action, statements)


def _message(
    settings: Settings, store: Store, versions: Sequence[str], action: Action, rule: AlertRule, now: datetime
) -> AlertMessage:
    ev = action.evaluation
    kind, key = _scope_filter(action.alert.scope)
    lo = day_start(ev.day - timedelta(days=rule.window_days - 1))
    hi = day_start(ev.day + timedelta(days=1))
    statements = store.top_documents(versions, lo, hi, kind, key, limit=3) if action.kind != "resolve" else []
    attachments = []
    if action.kind == "open" and "email" in settings.alerts.channels and settings.alerts.email.attach_chart:
        path = _alert_chart(settings, store, versions, action, now)
        if path is not None:
            attachments.append(str(path))
    return build_message(
        action,
        window_days=rule.window_days,
        baseline_days=rule.baseline_days,
        statements=statements,
        attachments=attachments,
    )


def _alert_chart(
    settings: Settings, store: Store, versions: Sequence[str], action: Action, now: datetime
) -> Path | None:
    """The trend chart of the 120 days up to the alert, with the alert marked (best effort)."""
    day = action.evaluation.day
    try:
        result = compute_trends(settings, store, since=day - timedelta(days=119), until=day, versions=versions)
        out = settings.outputs_dir / "alerts" / f"alert-{action.alert.fingerprint}-{day}"
        paths = make_charts(settings, result, out, made_on=now.date(), alerts=[day])
    except (TrackerError, ValueError) as exc:
        log.warning("no chart for the alert on %s: %s", day, exc)
        return None
    return next((p for p in paths if p.name == "trend.png"), None)


def deliver_outbox(
    store: Store, notifiers: Mapping[str, Notifier], now: datetime, summary: AlertRunSummary | None = None
) -> AlertRunSummary:
    """Send every queued message on its channel; failures stay queued for the next run, with the error."""
    summary = summary or AlertRunSummary()
    for row in store.pending_outbox():
        notifier = notifiers.get(row["channel"])
        if notifier is None:
            summary.waiting += 1
            continue
        try:
            notifier.send(AlertMessage.from_json(row["payload"]))
        except NotifyError as exc:
            store.mark_failed(row["id"], str(exc))
            summary.failed += 1
            summary.errors.append(str(exc))
            log.warning("alert %s not delivered by %s (will retry next run): %s", row["alert_id"], row["channel"], exc)
            continue
        store.mark_sent(row["id"], now)
        summary.sent += 1
    return summary


def make_notifiers(settings: Settings) -> dict[str, Notifier]:
    """The configured channels, with the secrets read at load; one whose secret is missing is left out (its
    messages wait, with a warning)."""
    secrets = settings.secrets
    cfg = settings.alerts
    out: dict[str, Notifier] = {}
    for channel in cfg.channels:
        if channel == "file":
            path = cfg.file.path if cfg.file.path.is_absolute() else settings.home / cfg.file.path
            out["file"] = FileNotifier(path)
        elif channel == "email":
            e = cfg.email
            password = secrets.get(e.password_env)
            if e.password_env and password is None:
                log.warning("alerts.email.password_env names $%s, which is not set; email alerts wait", e.password_env)
                continue
            out["email"] = EmailNotifier(
                host=e.host,
                port=e.port,
                security=e.security,
                sender=e.sender,
                recipients=e.recipients,
                username=secrets.get(e.username_env),
                password=password,
                timeout=e.timeout,
            )
        elif channel == "webhook":
            url = secrets.get(cfg.webhook.url_env)
            if not url:
                log.warning(
                    "alerts.webhook.url_env names $%s, which is not set; webhook alerts wait", cfg.webhook.url_env
                )
                continue
            w = cfg.webhook
            out["webhook"] = WebhookNotifier(url, timeout=w.timeout, retries=w.retries, backoff=w.backoff)
    return out


def backtest(
    settings: Settings, store: Store, *, since: date, until: date, versions: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Replay the rules day by day over stored scores, as if the job had run every day; sends nothing."""
    cfg = settings.alerts
    versions = list(versions) if versions is not None else current_versions(settings, store)
    rules = [rule_of(r) for r in cfg.rules]
    longest = max((r.baseline_days + r.window_days + r.warmup_days for r in rules), default=0)
    series = scope_series(
        store, versions, cfg.by, since=since - timedelta(days=longest + 1), until=until, unit=settings.trends.count
    )
    found: list[dict[str, Any]] = []
    for scope, frame in series.items():
        for rule in rules:
            state: ScopeState = new_state(rule, scope)
            _, actions = replay(frame, rule, scope, since, until, state)
            opened: dict[str, dict[str, Any]] = {}
            for a in actions:
                if a.kind == "open":
                    item = {
                        "scope": scope,
                        "rule": rule.name,
                        "opened_at": a.alert.opened_at.isoformat(),
                        "resolved_at": None,
                        "severity": a.alert.severity,
                        "peak_share": round(a.alert.peak_share, 4),
                        "baseline_share": round(a.alert.baseline_share, 4),
                    }
                    opened[a.alert.fingerprint] = item
                    found.append(item)
                elif a.kind == "resolve" and a.alert.fingerprint in opened:
                    item = opened.pop(a.alert.fingerprint)
                    item["resolved_at"] = a.evaluation.day.isoformat()
                    item["peak_share"] = round(a.alert.peak_share, 4)
                    item["severity"] = a.alert.severity
    if cfg.regime_changes.enabled:
        for scope, frame in scope_series(store, versions, cfg.by, until=until, unit=settings.trends.count).items():
            found += _backtest_regimes(settings, scope, frame, since, until)
    return sorted(found, key=lambda x: (x["opened_at"], x["scope"], x["rule"]))


def _backtest_regimes(
    settings: Settings, scope: str, frame: pd.DataFrame, since: date, until: date
) -> list[dict[str, Any]]:
    """The regime changes the job would have announced in a scope, day by day."""
    detector, rule, alert_rule = _regime_parts(settings)
    out = []
    for a in replay_regimes(frame, scope, since, until, detector, rule, alert_rule):
        ev = a.evaluation
        out.append(
            {
                "scope": scope,
                "rule": a.alert.rule,
                "opened_at": ev.day.isoformat(),
                "resolved_at": None,
                "severity": a.alert.severity,
                "change_day": ev.current.start.isoformat(),
                "from": ev.announced_before,
                "mean_hostility": round(ev.current.mean_hostility, 4),
                "previous_mean": round(ev.previous.mean_hostility, 4) if ev.previous is not None else None,
                "z": round(ev.strength.z, 1) if ev.strength is not None else None,
            }
        )
    return out
