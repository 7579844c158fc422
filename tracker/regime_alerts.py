"""PURE: regime-change alerts. A calm turning into an escalation (or back, or into normal) is announced once, on
the first day the new regime has held `hold_days`, as the change-point search saw the series on that day (only the
days up to it, never hindsight). Spike alerts cannot say this: their 28-day baseline adapts within weeks and they
resolve while a wave goes on.

The state of a scope is the regime last announced (an `Alert` whose severity is the regime's kind); the first
evaluation of a scope records its regime without announcing it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd

from tracker.alerts import (
    Action,
    Alert,
    AlertMessage,
    Decision,
    ScopeState,
    fingerprint,
    quote_statements,
    silence_hint,
)
from tracker.models import Regime
from tracker.trends import ChangeStrength, Detector, RegimeRule, classify, count_noise, find_regimes, long_run

RULE = "regime_change"
SAME_START_DAYS = 3
MIXED_Z = 3.0
HEADLINES = {
    ("calm", "escalation"): "Escalation after a calm",
    ("normal", "escalation"): "Escalation began",
    ("escalation", "calm"): "Escalation over: calm",
    ("escalation", "normal"): "Escalation over",
    ("normal", "calm"): "Calm began",
    ("calm", "normal"): "Calm over",
}


@dataclass(frozen=True)
class RegimeAlertRule:
    """When a regime change is announced (defaults in config.yaml, alerts.regime_changes)."""

    hold_days: int = 14  # the new regime must have held this many days (counted from its first day)
    lookback_days: int = 180  # the search runs on this many trailing days; kinds are judged on the whole history
    confirm_days: int = 3  # and the search must have seen the new kind on this many days running
    margin: float = 0.5  # hysteresis, in long-run spreads: an announced calm or escalation ends only this far inside


@dataclass(frozen=True)
class RegimeEvaluation:
    """The regime a scope is in on `day`, as seen that day: the held regime, the one before it, and the
    strength of the change point between them."""

    scope: str
    day: date
    current: Regime | None
    previous: Regime | None
    strength: ChangeStrength | None
    reference: float
    spread: float
    k: float = 1.0
    announced_before: str | None = None  # the kind announced before this change (set on an "open" action)


def evaluate_regime(
    daily: pd.DataFrame,
    day: date,
    scope: str,
    detector: Detector,
    regime_rule: RegimeRule,
    rule: RegimeAlertRule = RegimeAlertRule(),
) -> RegimeEvaluation:
    """The regime held on `day`: the last regime of the search over the days up to `day` that has held (see
    `_held`), with the one before it. Weak change points are merged away first (RegimeRule.min_z)."""
    upto = daily[daily["period"] <= pd.Timestamp(day)]
    if upto.empty or upto["documents"].sum() == 0:
        return RegimeEvaluation(scope, day, None, None, None, math.nan, math.nan)
    reference, spread = long_run(upto, regime_rule)
    recent = upto.tail(rule.lookback_days)
    found = find_regimes(recent, detector, regime_rule, long_run_of=(reference, spread))
    regimes = found.regimes
    while regimes and not _held(
        recent, regimes[-1], day, reference, spread, regime_rule.k, rule.hold_days, detector, regime_rule.min_z
    ):
        regimes = regimes[:-1]
    if not regimes:
        return RegimeEvaluation(scope, day, None, None, None, reference, spread, regime_rule.k)
    current = regimes[-1]
    previous = regimes[-2] if len(regimes) > 1 else None
    strength = next((c for c in found.strengths if c.day == current.start), None)
    return RegimeEvaluation(scope, day, current, previous, strength, reference, spread, regime_rule.k)


def _held(
    daily: pd.DataFrame,
    regime: Regime,
    day: date,
    reference: float,
    spread: float,
    k: float,
    hold_days: int,
    detector: Detector,
    min_z: float,
) -> bool:
    """Whether a regime has held `hold_days` from its first day: it is that old, longer than the search's
    minimum segment, its first `2 * hold_days` days (or as many as it has) show no jump between their halves
    (z under max(min_z, MIXED_Z)), and its first and its last `hold_days` days alone are each of its kind.
    The search never ends on a segment shorter than its minimum size, so a fresh change first shows as a last
    segment that starts before the change and mixes both sides."""
    age = (day - regime.start).days + 1
    if age < max(hold_days, int(getattr(detector, "min_size", 1)) + 1):
        return False
    inside = daily[daily["period"] >= pd.Timestamp(regime.start)].head(2 * hold_days)
    half = len(inside) // 2
    sums = [
        (float(p["hostility_sum"].sum()), int(p["documents"].sum())) for p in (inside.iloc[:half], inside.iloc[half:])
    ]
    if not all(n for _, n in sums):
        return False
    (s1, n1), (s2, n2) = sums
    noise = count_noise(daily["documents"].to_numpy("float64"), daily["hostility_sum"].to_numpy("float64"))
    error = math.sqrt(noise / n1 + noise / n2)
    if error and abs(s2 / n2 - s1 / n1) / error >= max(min_z, MIXED_Z):
        return False
    whole = daily[daily["period"] >= pd.Timestamp(regime.start)]
    for part in (whole.head(hold_days), whole.tail(hold_days)):
        documents = int(part["documents"].sum())
        mean = float(part["hostility_sum"].sum()) / documents if documents else math.nan
        if classify(mean, reference, spread, k) != regime.kind:
            return False
    return True


def sticky_kind(ev: RegimeEvaluation, announced: str, margin: float) -> str:
    """The held regime's kind with hysteresis: an announced calm or escalation holds until the mean is `margin`
    spreads inside its threshold, so a regime sitting on a threshold is not announced back and forth."""
    held = ev.current
    if held is None:
        return announced
    mean, edge = held.mean_hostility, (ev.k - margin) * ev.spread
    if announced == "escalation" and mean >= ev.reference + edge:
        return "escalation"
    if announced == "calm" and mean <= ev.reference - edge:
        return "calm"
    return held.kind


def new_regime_state(scope: str) -> ScopeState:
    return ScopeState(fingerprint(RULE, scope), RULE, scope)


def decide_regime(state: ScopeState, ev: RegimeEvaluation, rule: RegimeAlertRule = RegimeAlertRule()) -> Decision:
    """Advance one scope by one day. Actions: "baseline" (first sight: recorded, not announced), "open" (a new
    kind of regime after a change point: announced) when the search has seen it `confirm_days` days running,
    with "close" (the regime it replaces: recorded, not announced). The first regime of the search (no change
    point before it) is never announced: its kind moves with the long run, not with a change, and is re-judged
    silently ("rejudge"). Re-deciding a day already evaluated changes nothing."""
    if state.last_evaluated is not None and ev.day <= state.last_evaluated:
        return Decision(state)
    state = replace(state, last_evaluated=ev.day)
    held = ev.current
    if held is None:
        return Decision(state)
    known = state.alert
    kind = held.kind if known is None else sticky_kind(ev, known.severity, rule.margin)
    if known is not None and kind == known.severity:
        return Decision(replace(state, pending=0, cooldown_until=None))
    if known is not None and ev.previous is None:  # no change point in sight: nothing to announce
        if known.last_notified is not None:
            return Decision(replace(state, pending=0, cooldown_until=None))
        rejudged = replace(known, severity=kind, peak_share=held.mean_hostility, documents=held.documents)
        return Decision(replace(state, alert=rejudged, pending=0), [Action("rejudge", rejudged, ev)])
    if known is not None:
        # A candidate must be seen `confirm_days` days running with the same first day (give or take
        # SAME_START_DAYS): a fresh change first shows as a segment whose start slides day by day. For these
        # scopes the state's `cooldown_until` holds the candidate's first day.
        candidate = state.cooldown_until
        same = candidate is not None and abs((held.start - candidate).days) <= SAME_START_DAYS
        pending = state.pending + 1 if same else 1
        if pending < rule.confirm_days:
            return Decision(replace(state, pending=pending, cooldown_until=held.start))
    opened = Alert(
        fingerprint=state.fingerprint,
        rule=RULE,
        scope=ev.scope,
        opened_at=held.start,
        severity=kind,
        peak_share=held.mean_hostility,
        peak_z=ev.strength.z if ev.strength is not None else 0.0,
        baseline_share=ev.previous.mean_hostility if ev.previous is not None else held.mean_hostility,
        documents=held.documents,
        last_notified=None if known is None else ev.day,
    )
    if known is None:
        return Decision(replace(state, alert=opened), [Action("baseline", opened, ev)])
    closed = replace(known, resolved_at=ev.day)
    opening = Action("open", opened, replace(ev, announced_before=known.severity))
    return Decision(
        replace(state, alert=opened, pending=0, cooldown_until=None), [Action("close", closed, ev), opening]
    )


def replay_regimes(
    daily: pd.DataFrame,
    scope: str,
    start: date,
    end: date,
    detector: Detector,
    regime_rule: RegimeRule,
    rule: RegimeAlertRule = RegimeAlertRule(),
) -> list[Action]:
    """Every day from `start` to `end` in order, as if the job had run each day: the announced changes."""
    state = new_regime_state(scope)
    out: list[Action] = []
    day = start
    while day <= end:
        decision = decide_regime(state, evaluate_regime(daily, day, scope, detector, regime_rule, rule), rule)
        state = decision.state
        out.extend(a for a in decision.actions if a.kind == "open")
        day += timedelta(days=1)
    return out


def build_regime_message(
    action: Action, statements: Sequence[dict[str, Any]], silence_hint_days: int = 7
) -> AlertMessage:
    """What an analyst needs: the new regime against the one before, how sure the change is, what "calm" or
    "escalation" is relative to, the most hostile statements since the change, and how to silence."""
    ev: RegimeEvaluation = action.evaluation
    held, before = ev.current, ev.previous
    if held is None:
        raise ValueError("a regime-change message needs the regime held")
    kind = action.alert.severity
    was = ev.announced_before or (before.kind if before is not None else "unknown")
    headline = HEADLINES.get((was, kind), f"Regime change: {was} to {kind}")
    days = (ev.day - held.start).days + 1
    subject = f"[tracker] {headline} in {ev.scope} (since {held.start})"
    lines = [
        f"{headline} in {ev.scope}: since {held.start} ({days} days, {held.documents:,} documents) mean hostility "
        f"{held.mean_hostility:.2f}, {held.absolute}."
    ]
    if before is not None:
        sure = f", z {ev.strength.z:.0f}" if ev.strength is not None else ""
        lines.append(
            f"Before: {before.kind} from {before.start} (mean {before.mean_hostility:.2f}, {before.absolute}); change "
            f"{held.mean_hostility - before.mean_hostility:+.2f}{sure}."
        )
    lines += [
        f"{kind.capitalize()} is relative to this scope's long run: median daily mean {ev.reference:.2f}, calm "
        f"below {ev.reference - ev.spread:.2f}, escalation above {ev.reference + ev.spread:.2f} (scale 0 cooperative "
        f"to 1 violent). Seen with the data up to {ev.day}; later days may move the change.",
        "",
    ]
    lines, quoted = quote_statements(lines, statements, "Most hostile statements since the change:")
    lines.append(silence_hint(ev.scope, ev.day, silence_hint_days))
    data = {
        "kind": "regime_change",
        "rule": RULE,
        "scope": ev.scope,
        "severity": kind,
        "announced_before": was,
        "day": ev.day.isoformat(),
        "regime": held.as_dict(),
        "previous": before.as_dict() if before else None,
        "strength": ev.strength.as_dict() if ev.strength else None,
        "long_run": {"median_daily_hostility": round(ev.reference, 4), "spread": round(ev.spread, 4)},
        "fingerprint": action.alert.fingerprint,
        "statements": quoted,
    }
    return AlertMessage(subject, "\n".join(lines), data)
