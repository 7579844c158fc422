"""PURE: the weekly report's content from values: headline and direction, key changes by actor and source,
regime, alerts, the most hostile statements, methodology. Rendering to files is tracker.render."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd

from tracker.formatting import pct
from tracker.models import LEVEL_NAMES, TARGET_NAMES, Regime

LANGUAGE_NAMES = {"en": "English", "ar": "Arabic"}  # for display; other languages show their code


def iso_week(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_start(label: str) -> date:
    """Monday of an ISO week given as YYYY-Www."""
    try:
        year, week = label.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    except (ValueError, AttributeError):
        raise ValueError(f"week must look like 2023-W43, got {label!r}") from None


def text_direction(text: str) -> str:
    """rtl when most letters are right-to-left (Arabic, Hebrew, Persian), else ltr."""
    rtl = ltr = 0
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            rtl += 1
        elif kind == "L":
            ltr += 1
    return "rtl" if rtl > ltr else "ltr"


@dataclass(frozen=True)
class KeyRow:
    key: str
    documents: int
    mean_hostility: float
    hostile_share: float
    prior_share: float
    low_volume: bool

    @property
    def change(self) -> float:
        return self.hostile_share - self.prior_share


@dataclass(frozen=True)
class TargetRow:
    """One target in the "toward whom" table: this week against the prior one, statements and reports apart."""

    code: str
    name: str
    documents: int
    statements: int
    reports: int
    mean_hostility: float
    hostile_share: float
    prior_share: float
    prior_documents: int

    @property
    def change(self) -> float:
        return self.hostile_share - self.prior_share

    @property
    def no_kind(self) -> int:
        """Documents this week that are neither statements nor reports: stored before their kind was recorded."""
        return self.documents - self.statements - self.reports


def target_rows(
    weekly_by_target: pd.DataFrame | None, weekly_by_kind: pd.DataFrame | None, start: date
) -> list[TargetRow]:
    """The "toward whom" rows for the week starting `start`, from weekly series by target and by "CODE|kind",
    in the order of TARGET_NAMES (codes with no document in either week left out)."""
    if weekly_by_target is None or weekly_by_target.empty:
        return []
    week, prior = pd.Timestamp(start), pd.Timestamp(start - timedelta(days=7))
    this = weekly_by_target[weekly_by_target["period"] == week].set_index("key")
    before = weekly_by_target[weekly_by_target["period"] == prior].set_index("key")
    kinds: dict[str, int] = {}
    if weekly_by_kind is not None and not weekly_by_kind.empty:
        current = weekly_by_kind[weekly_by_kind["period"] == week]
        kinds = {str(k): int(n) for k, n in zip(current["key"], current["documents"], strict=True)}
    rows = []
    for code, name in TARGET_NAMES.items():
        n = int(this["documents"].get(code, 0)) if not this.empty else 0
        p = int(before["documents"].get(code, 0)) if not before.empty else 0
        if not (n or p):
            continue
        rows.append(
            TargetRow(
                code,
                name,
                n,
                kinds.get(f"{code}|statement", 0),
                kinds.get(f"{code}|report", 0),
                float(this["mean_hostility"].get(code, float("nan"))) if n else float("nan"),
                float(this["hostile_share"].get(code, float("nan"))) if n else float("nan"),
                float(before["hostile_share"].get(code, float("nan"))) if p else float("nan"),
                p,
            )
        )
    return rows


@dataclass(frozen=True)
class Statement:
    text: str
    actor: str
    source: str
    day: date
    level: int
    hostility: float
    copies: int = 1  # documents in its story (forwards, reposts, edited copies), itself included
    copy_sources: int = 1

    @property
    def copies_note(self) -> str:
        if self.copies <= 1:
            return ""
        return f"{self.copies} copies from {self.copy_sources} source{'s' if self.copy_sources != 1 else ''}"

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    @property
    def direction(self) -> str:
        return text_direction(self.text)


@dataclass(frozen=True)
class WeeklyReport:
    week: str
    start: date
    end: date
    direction: str
    headline: str
    documents: int
    unscored: int
    hostile_share: float
    prior_share: float
    norm_share: float
    by_actor: list[KeyRow]
    by_source: list[KeyRow]
    regime: Regime | None
    regime_changes: list[date]
    alerts_opened: list[dict[str, Any]]
    alerts_resolved: list[dict[str, Any]]
    statements: list[Statement]
    methodology: dict[str, Any]
    charts: dict[str, str] = field(default_factory=dict)
    by_target: list[TargetRow] = field(default_factory=list)
    # language -> code -> F1 of the target head on the team's dev set of that language (from the model's card)
    target_quality: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def quality_note(self) -> str:
        """How well the model reads the table's targets, per language, from its card ('' without dev figures)."""
        langs = [lang for lang, codes in self.target_quality.items() if codes]
        rows = [t for t in self.by_target if any(t.code in self.target_quality[lang] for lang in langs)]
        if not rows:
            return ""
        names = " / ".join(LANGUAGE_NAMES.get(lang, lang) for lang in langs)
        figures = ", ".join(
            f"{t.name} {' / '.join(_f1(self.target_quality[lang].get(t.code)) for lang in langs)}" for t in rows
        )
        return (
            f"How well the model reads each target: F1 on the labeled dev sets shipped with the model ({names}): "
            f"{figures}. The lower the F1, the more documents in that row carry a target they do not have, or miss "
            "one they have."
        )

    @property
    def kinds_note(self) -> str:
        """The line under the "toward whom" table when some documents have no recorded kind ('' when all do)."""
        unkinded = [t for t in self.by_target if t.no_kind]
        if not unkinded:
            return ""
        if all(t.no_kind == t.documents for t in self.by_target):
            return ("No document this week has a recorded kind (all were stored before kinds were recorded), so the "
                    "statements and reports columns stay empty.")  # fmt: skip
        named = ", ".join(f"{t.name} {t.no_kind}" for t in unkinded)
        return f"Documents stored before their kind was recorded count in documents only ({named})."


def _f1(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def direction_of(current: float, prior: float, norm: float, threshold: float) -> str:
    """deteriorated when the hostile share rose by `threshold` against both the prior week and the 4-week
    norm; improved when it fell by as much against both; unchanged otherwise (or without data)."""
    if any(x != x for x in (current, prior, norm)):
        return "unchanged"
    if current - prior >= threshold and current - norm >= threshold:
        return "deteriorated"
    if prior - current >= threshold and norm - current >= threshold:
        return "improved"
    return "unchanged"


def _rows(weekly_by_key: pd.DataFrame | None, start: date, limit: int) -> list[KeyRow]:
    if weekly_by_key is None or weekly_by_key.empty:
        return []
    this = weekly_by_key[weekly_by_key["period"] == pd.Timestamp(start)].set_index("key")
    prior = weekly_by_key[weekly_by_key["period"] == pd.Timestamp(start - timedelta(days=7))].set_index("key")
    rows = []
    for key, r in this.iterrows():
        if r["documents"] == 0:
            continue
        p = prior["hostile_share"].get(key, float("nan")) if not prior.empty else float("nan")
        rows.append(
            KeyRow(
                str(key),
                int(r["documents"]),
                float(r["mean_hostility"]),
                float(r["hostile_share"]),
                float(p),
                bool(r["low_volume"]),
            )
        )
    return sorted(rows, key=lambda k: -k.documents)[:limit]


def build_weekly_report(
    *,
    start: date,
    weekly: pd.DataFrame,
    weekly_by_actor: pd.DataFrame | None,
    weekly_by_source: pd.DataFrame | None,
    regimes: Sequence[Regime],
    change_points: Sequence[date],
    alerts: Sequence[dict[str, Any]],
    statements: Sequence[dict[str, Any]],
    methodology: dict[str, Any],
    threshold: float = 0.10,
    norm_weeks: int = 4,
    rows: int = 8,
) -> WeeklyReport:
    """Everything the weekly report says, computed from the series and records it is given."""
    end = start + timedelta(days=6)
    w = weekly.sort_values("period").reset_index(drop=True)
    idx = w.index[w["period"] == pd.Timestamp(start)]
    if len(idx) == 0:
        raise ValueError(f"no data for the week of {start}")
    i = int(idx[0])
    row = w.iloc[i]
    current = float(row["hostile_share"])
    prior = float(w.iloc[i - 1]["hostile_share"]) if i >= 1 else float("nan")
    norm_slice = w.iloc[max(0, i - norm_weeks) : i]["hostile_share"].dropna()
    norm = float(norm_slice.mean()) if not norm_slice.empty else float("nan")
    direction = direction_of(current, prior, norm, threshold)
    n = int(row["documents"])
    verb = {"deteriorated": "Hostility rose", "improved": "Hostility eased", "unchanged": "Hostility held steady"}
    headline = (
        f"{verb[direction]} in {iso_week(start)}: {pct(current)} of {n:,} scored documents were threatening or "
        f"violent, against {pct(prior)} the week before and {pct(norm)} over the previous {norm_weeks} weeks."
    )
    if n == 0:
        headline = f"No scored documents in {iso_week(start)}; the direction cannot be judged."
    regime = next((r for r in regimes if r.start <= end <= r.end), None)
    opened = [a for a in alerts if start <= a["opened_at"] <= end]
    resolved = [a for a in alerts if a.get("resolved_at") and start <= a["resolved_at"] <= end]
    quoted = [
        Statement(
            text=str(s["text"]),
            actor=s.get("actor") or "(not named)",
            source=str(s["source"]),
            day=s["published_at"].date() if hasattr(s["published_at"], "date") else s["published_at"],
            level=int(s["level"]),
            hostility=float(s["hostility"]),
            copies=int(s.get("copies", 1)),
            copy_sources=int(s.get("copy_sources", 1)),
        )
        for s in statements
    ]
    return WeeklyReport(
        week=iso_week(start),
        start=start,
        end=end,
        direction=direction,
        headline=headline,
        documents=n,
        unscored=int(row["unscored"]),
        hostile_share=current,
        prior_share=prior,
        norm_share=norm,
        by_actor=_rows(weekly_by_actor, start, rows),
        by_source=_rows(weekly_by_source, start, rows),
        regime=regime,
        regime_changes=[d for d in change_points if start <= d <= end],
        alerts_opened=opened,
        alerts_resolved=resolved,
        statements=quoted,
        methodology=methodology,
    )
