"""Alert decisions on seeded synthetic series with known answers (pure: no store, no network)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from tracker.alerts import AlertRule, decide, evaluate, new_state, replay

START = date(2023, 1, 1)


def series(shares: list[float], *, volume: float = 20.0, seed: int = 0, measure: str = "hostile") -> pd.DataFrame:
    """One row per day: Poisson(volume) documents, each at the measure's level with the day's probability."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, p in enumerate(shares):
        n = int(rng.poisson(volume))
        k = int(rng.binomial(n, p))
        rows.append({"period": pd.Timestamp(START + timedelta(days=i)), "documents": n, "hostile": k, "violent": k})
    return pd.DataFrame(rows)


def opens(frame: pd.DataFrame, rule: AlertRule | None = None) -> list[date]:
    rule = rule or AlertRule()
    _, actions = replay(frame, rule, "overall", START, START + timedelta(days=len(frame) - 1))
    return [a.evaluation.day for a in actions if a.kind == "open"]


@pytest.mark.parametrize("seed", range(10))
def test_a_step_up_fires_within_two_windows(seed: int) -> None:
    step = 60  # 30 documents a day, the hostile share steps from 20% to 70% (expected robust z about 6)
    frame = series([0.2] * step + [0.7] * 30, volume=30, seed=seed)
    opened = opens(frame)
    assert opened, "the step must fire"
    assert 0 <= (opened[0] - (START + timedelta(days=step))).days <= 1
    assert len(opened) == 1


@pytest.mark.parametrize("seed", range(8))
def test_a_flat_noisy_series_fires_nothing(seed: int) -> None:
    assert opens(series([0.3] * 365, seed=100 + seed)) == []


def test_low_volume_windows_fire_nothing() -> None:
    frame = series([0.1] * 60 + [0.9] * 30, volume=2.0, seed=4)
    assert frame["documents"].iloc[60:].max() < 10
    assert opens(frame) == []


def test_no_alert_during_the_warm_up() -> None:
    frame = series([0.1] * 5 + [0.9] * 10 + [0.1] * 20, seed=1)
    assert all((d - START).days >= 14 for d in opens(frame))


def test_a_high_severity_spike_bypasses_the_pending_period() -> None:
    frame = series([0.05] * 60 + [0.95] * 5, volume=40, seed=2)
    assert opens(frame) == [START + timedelta(days=60)]
    patient = AlertRule(bypass_pending_at="high", severity_z=(("low", 3.0), ("high", 1000.0)))
    assert opens(frame, patient) == [START + timedelta(days=61)]


def test_repeat_resolve_with_hysteresis_and_cooldown() -> None:
    frame = series([0.1] * 60 + [0.7] * 10 + [0.1] * 5 + [0.7] * 4 + [0.1] * 30, seed=3)
    rule = AlertRule(repeat_days=3, cooldown_days=7, resolve_windows=2)
    _, actions = replay(frame, rule, "overall", START, START + timedelta(days=len(frame) - 1))
    kinds = [(a.kind, (a.evaluation.day - START).days) for a in actions]
    opened = [d for k, d in kinds if k == "open"]
    resolved = [d for k, d in kinds if k == "resolve"]
    repeats = [d for k, d in kinds if k == "repeat"]
    assert opened[0] in (60, 61)
    assert resolved and resolved[0] >= 71  # two calm windows after the step down on day 70
    assert repeats and all(b - a >= 3 for a, b in zip([opened[0], *repeats], repeats, strict=False))
    assert len(opened) == 1  # the second burst (days 75-78) falls inside the cooldown


def test_deciding_the_same_day_twice_changes_nothing() -> None:
    frame = series([0.2] * 40 + [0.9] * 3, volume=40, seed=5)
    rule = AlertRule()
    state = new_state(rule, "overall")
    day = START + timedelta(days=40)
    first = decide(state, evaluate(frame, day, rule, "overall"), rule)
    assert [a.kind for a in first.actions] == ["open"]
    again = decide(first.state, evaluate(frame, day, rule, "overall"), rule)
    assert again.actions == [] and again.state == first.state


def test_evaluation_says_why_it_did_not_fire() -> None:
    frame = series([0.2] * 40, volume=1, seed=6)
    ev = evaluate(frame, START + timedelta(days=39), AlertRule(), "overall")
    assert not ev.eligible and "low volume" in ev.reason
    early = evaluate(series([0.2] * 40, seed=6), START + timedelta(days=3), AlertRule(), "overall")
    assert "warming up" in early.reason
