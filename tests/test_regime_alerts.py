"""Regime changes: weak change points hidden, and a calm turning into an escalation (or back) announced once, on
seeded synthetic series with known answers, replayed day by day as the job would see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.synthetic import piecewise_levels
from tracker import trends
from tracker.regime_alerts import (
    RegimeAlertRule,
    build_regime_message,
    decide_regime,
    evaluate_regime,
    new_regime_state,
    replay_regimes,
)

DETECTOR = trends.make_detector("pelt")
RULE = trends.RegimeRule(min_z=4.0, weekly_below=1.0)


@dataclass
class FixedBreaks:
    """A detector that returns the breaks it is given: the merge of weak change points is tested on its own."""

    breaks: list[int]
    size: int = field(default=0)
    min_size: int = 14

    def fit(self, signal: np.ndarray) -> FixedBreaks:
        self.size = len(signal)
        return self

    def predict(self) -> list[int]:
        return list(self.breaks)


def test_weak_change_points_are_merged_and_listed() -> None:
    rng = np.random.default_rng(0)
    means = [0.30] * 60 + [0.31] * 60 + [0.70] * 60  # a change of 0.01 (weak), then one of 0.39 (strong)
    docs = rng.poisson(5, len(means))
    sums = [sum(np.clip(rng.normal(m, 0.2, n), 0, 1)) for m, n in zip(means, docs, strict=True)]
    agg = pd.DataFrame(
        {
            "day": pd.date_range("2024-01-01", periods=len(means)),
            "key": "all",
            "documents": docs,
            "unscored": 0,
            "hostility_sum": sums,
            "hostile": 0,
            "violent": 0,
        }
    )
    daily = trends.build_series(agg)
    kept = trends.find_regimes(daily, FixedBreaks([60, 120]), trends.RegimeRule(min_z=4.0))
    assert kept.change_points == [date(2024, 4, 30)]
    assert [c.day for c in kept.hidden] == [date(2024, 3, 1)] and abs(kept.hidden[0].z) < 4
    assert len(kept.regimes) == 2 and kept.regimes[0].documents == int(docs[:120].sum())
    every = trends.find_regimes(daily, FixedBreaks([60, 120]), trends.RegimeRule(min_z=0.0))
    assert len(every.change_points) == 2 and every.hidden == ()


def announced(agg: pd.DataFrame, start: date, end: date) -> list[tuple[date, str, date]]:
    daily = trends.build_series(agg)
    actions = replay_regimes(daily, "overall", start, end, DETECTOR, RULE)
    return [(a.evaluation.day, a.alert.severity, a.alert.opened_at) for a in actions]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("volume", [2.0, 6.0])
def test_a_calm_and_then_an_escalation_are_each_announced_once(seed: int, volume: float) -> None:
    agg, (calm_day, wave_day) = piecewise_levels([2, 1, 3], [200, 150, 150], seed=seed, volume=volume)
    start = calm_day - timedelta(days=60)
    found = announced(agg, start, wave_day + timedelta(days=149))
    # On a rising edge the job may first say "calm over" (normal) and then "escalation": never more, never back.
    kinds = [kind for _, kind, _ in found]
    assert kinds in (["calm", "escalation"], ["calm", "normal", "escalation"]), found
    rule = RegimeAlertRule()
    final = [f for f in found if f[1] != "normal"]
    for (day, _, change), truth in zip(final, [calm_day, wave_day], strict=True):
        assert abs((change - truth).days) <= 21, (change, truth)  # where the change was put, as seen that day
        assert (day - change).days + 1 >= rule.hold_days, (day, change)  # held that long, as seen that day
        assert (day - truth).days <= rule.hold_days + rule.confirm_days + 14, (day, truth)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("volume", [1.0, 2.0, 5.0])
def test_a_flat_series_announces_nothing(seed: int, volume: float) -> None:
    agg, _ = piecewise_levels([2], [300], seed=200 + seed, volume=volume)
    first = agg["day"].min().date()
    assert announced(agg, first, first + timedelta(days=299)) == []


def test_first_sight_is_recorded_not_announced_and_a_day_is_decided_once() -> None:
    agg, (calm_day,) = piecewise_levels([2, 1], [200, 100], seed=1)
    daily = trends.build_series(agg)
    state = new_regime_state("overall")
    day = calm_day + timedelta(days=40)
    ev = evaluate_regime(daily, day, "overall", DETECTOR, RULE)
    first = decide_regime(state, ev)
    assert [a.kind for a in first.actions] == ["baseline"] and first.state.alert is not None
    assert first.state.alert.severity == "calm" and first.state.alert.opened_at >= calm_day - timedelta(days=14)
    again = decide_regime(first.state, ev)
    assert again.actions == [] and again.state == first.state


def test_the_message_says_what_changed_relative_to_what() -> None:
    agg, (calm_day, wave_day) = piecewise_levels([2, 1, 3], [200, 150, 150], seed=3)
    daily = trends.build_series(agg)
    actions = replay_regimes(daily, "actor:Kataib Hezbollah", calm_day, wave_day + timedelta(days=60), DETECTOR, RULE)
    wave = actions[-1]
    statement = {"text": "We will strike", "source": "tg", "published_at": wave_day, "level": 3, "hostility": 0.8}
    message = build_regime_message(wave, [statement])
    assert message.subject.startswith("[tracker] Escalation after a calm in actor:Kataib Hezbollah (since ")
    assert "mostly" in message.text and "long run" in message.text and "We will strike" in message.text
    assert 'tracker alerts silence "actor:Kataib Hezbollah"' in message.text
    assert message.data["severity"] == "escalation" and message.data["announced_before"] == "calm"
    assert message.data["strength"]["z"] > 4
