"""PURE: daily and weekly series from aggregated scores, change points and calm/escalation regimes.

Input is a table of per-day aggregates (built by the store with one GROUP BY, never row by row); output is
pandas frames and plain values. Nothing here reads files, the clock or config.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, is_dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from tracker.changepoints import (
    DETECTORS,
    BinsegDetector,
    Detector,
    PeltDetector,
    auto_penalty,
    count_noise,
    make_detector,
    noise_sigma,
    weighted_cost,
    weighted_penalty,
)
from tracker.models import Regime

AGG_COLUMNS = ("day", "key", "documents", "unscored", "hostility_sum", "hostile", "violent")
OVERALL = "all"


# --- series -------------------------------------------------------------------------------------------------


def build_series(
    agg: pd.DataFrame, *, freq: str = "D", start: date | None = None, end: date | None = None, min_documents: int = 3
) -> pd.DataFrame:
    """One row per period (day, or ISO week starting Monday) and key, with gaps filled by empty periods.

    Columns: period, key, documents (scored), unscored, mean_hostility, hostile_share (level >= 3),
    violent_share (level 4), low_volume (fewer scored documents than `min_documents`).
    """
    if freq not in ("D", "W"):
        raise ValueError("freq must be 'D' (daily) or 'W' (ISO weeks)")
    frame = agg.loc[:, list(AGG_COLUMNS)].copy()
    frame["day"] = pd.to_datetime(frame["day"])
    if frame.empty and (start is None or end is None):
        return _finish(frame.rename(columns={"day": "period"}), 1)
    first = pd.Timestamp(start) if start is not None else frame["day"].min()
    last = pd.Timestamp(end) if end is not None else frame["day"].max()
    if freq == "W":
        frame["day"] = frame["day"] - pd.to_timedelta(frame["day"].dt.day_of_week, unit="D")
        first = first - pd.Timedelta(days=first.weekday())
        last = last - pd.Timedelta(days=last.weekday())
    periods = pd.date_range(first, last, freq="7D" if freq == "W" else "D")
    keys = sorted(frame["key"].unique()) or [OVERALL]
    sums = frame.groupby(["day", "key"], sort=False)[list(AGG_COLUMNS[2:])].sum()
    full = pd.MultiIndex.from_product([periods, keys], names=["day", "key"])
    out = sums.reindex(full, fill_value=0).reset_index().rename(columns={"day": "period"})
    return _finish(out, min_documents)


def _finish(frame: pd.DataFrame, min_documents: int) -> pd.DataFrame:
    n = frame["documents"].astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        frame["mean_hostility"] = np.where(n > 0, frame["hostility_sum"] / n, np.nan)
        frame["hostile_share"] = np.where(n > 0, frame["hostile"] / n, np.nan)
        frame["violent_share"] = np.where(n > 0, frame["violent"] / n, np.nan)
    frame["low_volume"] = frame["documents"] < min_documents
    for col in ("documents", "unscored", "hostile", "violent"):
        frame[col] = frame[col].astype("int64")
    return frame.sort_values(["key", "period"]).reset_index(drop=True)


def overall(agg: pd.DataFrame) -> pd.DataFrame:
    """Aggregates summed over every key (actor, source or language) into one key, "all"."""
    summed = agg.groupby("day", as_index=False)[list(AGG_COLUMNS[2:])].sum()
    summed["key"] = OVERALL
    return summed.loc[:, list(AGG_COLUMNS)]


def smooth(values: pd.Series, weights: pd.Series, window: int = 7) -> pd.Series:
    """A centred rolling mean weighted by volume, so thin days count for little."""
    num = (values.fillna(0) * weights).rolling(window, center=True, min_periods=1).sum()
    den = weights.rolling(window, center=True, min_periods=1).sum()
    return (num / den.where(den > 0)).astype("float64")


def prior_norm(values: pd.Series, weeks: int = 4) -> pd.Series:
    """The mean of the previous `weeks` values (the current one excluded)."""
    return values.shift(1).rolling(weeks, min_periods=1).mean()


# --- regimes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegimeRule:
    """How a segment's kind is judged against the series' own long run: calm below, escalation above
    median ± `k` robust standard deviations of the `window`-day rolling mean (at least `min_spread`)."""

    k: float = 1.0
    window: int = 28
    min_spread: float = 0.03
    weekly_below: float = 0.0  # search on ISO-week bins when the stream averages fewer documents a day (0: never)
    min_z: float = 0.0  # change points weaker than this (|jump| / standard error) are hidden: their sides merged


def signal_of(daily: pd.DataFrame, weighted: bool = False) -> np.ndarray:
    """The signal for the change-point search: weighted, each day's documents and hostility sum (empty days
    weigh nothing); else the daily mean hostility with empty days filled in from their neighbours."""
    if weighted:
        return np.column_stack([daily["documents"].to_numpy("float64"), daily["hostility_sum"].to_numpy("float64")])
    values = daily["mean_hostility"].astype("float64")
    if values.notna().sum() == 0:
        return np.zeros(len(values))
    return values.interpolate(limit_direction="both").to_numpy()


def history_needed(detector: Detector) -> int:
    """Days of series a change point needs: a full minimum segment on each side of it."""
    return 2 * int(getattr(detector, "min_size", 1))


def history_note(days: int, detector: Detector) -> str | None:
    """What to say when the series is too short to look for change points (None when it is long enough)."""
    needed = history_needed(detector)
    if days >= needed:
        return None
    return f"not enough history for change points ({days} days, needs {needed})"


def detect_regimes(
    daily: pd.DataFrame, detector: Detector, rule: RegimeRule = RegimeRule()
) -> tuple[list[date], list[Regime]]:
    """Change points (first day of each new segment) and the segments, each with its kind. A series shorter
    than `history_needed` is one segment (see `history_note`)."""
    found = find_regimes(daily, detector, rule)
    return found.change_points, found.regimes


@dataclass(frozen=True)
class RegimeSearch:
    """What the change-point search found: the regimes kept, the strength of each change point between them, and
    the weak change points hidden (|z| under `RegimeRule.min_z`, their two sides merged into one regime)."""

    change_points: list[date]
    regimes: list[Regime]
    strengths: tuple[ChangeStrength, ...]
    hidden: tuple[ChangeStrength, ...]
    reference: float
    spread: float


def find_regimes(
    daily: pd.DataFrame,
    detector: Detector,
    rule: RegimeRule = RegimeRule(),
    long_run_of: tuple[float, float] | None = None,
) -> RegimeSearch:
    """Change points and regimes, weak change points merged away (weakest first, strengths recomputed after
    each merge). Kinds are judged against `long_run_of` (reference, spread) when given, else this series'."""
    daily = daily.sort_values("period").reset_index(drop=True)
    reference, spread = long_run_of or long_run(daily, rule)
    if daily.empty or daily["documents"].sum() == 0:
        return RegimeSearch([], [], (), (), reference, spread)
    bounds = [0, *sorted(set(_breaks(daily, detector, rule.weekly_below))), len(daily)]
    noise = count_noise(daily["documents"].to_numpy("float64"), daily["hostility_sum"].to_numpy("float64"))
    hidden: list[ChangeStrength] = []
    while True:
        regimes = [_segment(daily.iloc[a:b], reference, spread, rule.k) for a, b in itertools.pairwise(bounds)]
        strengths = _strengths(regimes, noise)
        weak = [c for c in strengths if abs(c.z) < rule.min_z]
        if not weak:
            break
        weakest = min(weak, key=lambda c: abs(c.z))
        hidden.append(weakest)
        bounds = [b for b, r in zip(bounds, [*regimes, None], strict=True) if r is None or r.start != weakest.day]
    hidden.sort(key=lambda c: c.day)
    return RegimeSearch([r.start for r in regimes[1:]], regimes, tuple(strengths), tuple(hidden), reference, spread)


def _segment(part: pd.DataFrame, reference: float, spread: float, k: float) -> Regime:
    docs = int(part["documents"].sum())
    mean = float(part["hostility_sum"].sum() / docs) if docs else float("nan")
    return Regime(
        start=part["period"].iloc[0].date(),
        end=part["period"].iloc[-1].date(),
        kind=classify(mean, reference, spread, k),
        mean_hostility=mean,
        documents=docs,
    )


@dataclass(frozen=True)
class ChangeStrength:
    """How sure a change point is: the jump in mean hostility from the segment before to the one after, over its
    standard error from the per-document noise and the two segments' volumes (z)."""

    day: date
    jump: float
    z: float

    def as_dict(self) -> dict[str, object]:
        return {"day": self.day.isoformat(), "jump": round(self.jump, 4), "z": round(self.z, 1)}


def change_strengths(daily: pd.DataFrame, regimes: Sequence[Regime]) -> list[ChangeStrength]:
    """The strength of every change point between consecutive regimes."""
    noise = count_noise(daily["documents"].to_numpy("float64"), daily["hostility_sum"].to_numpy("float64"))
    return _strengths(regimes, noise)


def _strengths(regimes: Sequence[Regime], noise: float) -> list[ChangeStrength]:
    out = []
    for before, after in itertools.pairwise(regimes):
        if not (before.documents and after.documents):
            continue
        jump = after.mean_hostility - before.mean_hostility
        error = math.sqrt(noise / before.documents + noise / after.documents)
        out.append(ChangeStrength(after.start, jump, jump / error if error else float("inf")))
    return out


def _breaks(daily: pd.DataFrame, detector: Detector, weekly_below: float) -> list[int]:
    """Where segments start, as indices into `daily`. A weighted search on a stream averaging fewer than
    `weekly_below` documents a day runs on ISO-week bins (a week of documents weighs what it holds) and a
    change starts on its week's Monday; otherwise on days."""
    weighted = getattr(detector, "model", "") == "weighted"
    if not (weighted and weekly_below > 0 and daily["documents"].mean() < weekly_below and is_dataclass(detector)):
        signal = signal_of(daily, weighted=weighted)
        return detector.fit(signal).predict() if len(signal) >= max(2, history_needed(detector)) else []
    monday = daily["period"] - pd.to_timedelta(daily["period"].dt.day_of_week, unit="D")
    weeks = daily.groupby(monday, sort=True)[["documents", "hostility_sum"]].sum()
    weekly = replace(detector, min_size=max(2, math.ceil(int(getattr(detector, "min_size", 14)) / 7)))
    signal = weeks.to_numpy("float64")
    if len(signal) < max(2, history_needed(weekly)):
        return []
    starts = [weeks.index[i] for i in weekly.fit(signal).predict()]
    return [int(np.searchsorted(daily["period"].to_numpy(), s.to_datetime64())) for s in starts]


def long_run(daily: pd.DataFrame, rule: RegimeRule) -> tuple[float, float]:
    """The series' long-run reference (median of daily means) and spread (robust sd of rolling means)."""
    values = daily["mean_hostility"].dropna()
    reference = float(values.median()) if not values.empty else 0.0
    rolling = (
        daily["hostility_sum"].rolling(rule.window, min_periods=rule.window // 2).sum()
        / daily["documents"].rolling(rule.window, min_periods=rule.window // 2).sum().where(lambda s: s > 0)
    ).dropna()
    if rolling.empty:
        return reference, rule.min_spread
    mad = float(np.median(np.abs(rolling - rolling.median())))
    return reference, max(1.4826 * mad, rule.min_spread)


def classify(mean: float, reference: float, spread: float, k: float) -> str:
    if math.isnan(mean):
        return "normal"
    if mean <= reference - k * spread:
        return "calm"
    if mean >= reference + k * spread:
        return "escalation"
    return "normal"


def regimes_at(days: Sequence[date], regimes: Sequence[Regime]) -> list[str]:
    """The regime kind of each day (for tables and charts)."""
    out = []
    for d in days:
        kind = next((r.kind for r in regimes if r.start <= d <= r.end), "normal")
        out.append(kind)
    return out


# --- the result of a trends run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendsResult:
    """Series, change points and regimes for a period, with what a chart needs to say where they came from."""

    start: date
    end: date
    daily: pd.DataFrame
    weekly: pd.DataFrame
    by: str | None
    daily_by_key: pd.DataFrame | None
    weekly_by_key: pd.DataFrame | None
    change_points: list[date]
    regimes: list[Regime]
    versions: list[str]
    sources: list[str]
    reference: float
    spread: float
    notes: tuple[str, ...] = ()
    strengths: tuple[ChangeStrength, ...] = ()
    hidden: tuple[ChangeStrength, ...] = ()  # weak change points, merged away (listed on request)
    scopes: Mapping[str, RegimeSearch] = field(default_factory=dict)  # with `by`: each key's own search
    unit: str = "stories"  # what a count counts: stories (copies once) or documents (every copy)

    @property
    def synthetic(self) -> bool:
        """Every source is one of the bundled demo's (so charts and reports must say the data are invented)."""
        return bool(self.sources) and all(s.startswith("demo_") for s in self.sources)

    def window(self, start: date, sources: list[str], end: date | None = None) -> TrendsResult:
        """The same result from `start` (to `end`): series sliced, regimes clipped, the long run kept (a window
        judged against itself would call its quietest stretch "calm" whatever the long run says)."""
        first = max(start, self.start)
        last = min(end, self.end) if end is not None else self.end
        lo, hi = pd.Timestamp(first), pd.Timestamp(last)
        return replace(
            self,
            start=first,
            end=last,
            daily=self.daily[self.daily["period"].between(lo, hi)].reset_index(drop=True),
            weekly=self.weekly[self.weekly["period"].between(lo, hi)].reset_index(drop=True),
            by=None,
            daily_by_key=None,
            weekly_by_key=None,
            change_points=[d for d in self.change_points if first <= d <= last],
            strengths=tuple(c for c in self.strengths if first <= c.day <= last),
            hidden=tuple(c for c in self.hidden if first <= c.day <= last),
            scopes={},
            regimes=[
                replace(r, start=max(r.start, first), end=min(r.end, last))
                for r in self.regimes
                if r.end >= first and r.start <= last
            ],
            sources=sources,
        )


__all__ = [
    "DETECTORS",
    "BinsegDetector",
    "ChangeStrength",
    "Detector",
    "PeltDetector",
    "RegimeRule",
    "RegimeSearch",
    "TrendsResult",
    "auto_penalty",
    "build_series",
    "change_strengths",
    "count_noise",
    "detect_regimes",
    "find_regimes",
    "make_detector",
    "noise_sigma",
    "weighted_cost",
    "weighted_penalty",
]
