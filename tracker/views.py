"""PURE: text and JSON views of results, for the shells (`tracker trends` prints these)."""

from __future__ import annotations

import pandas as pd

from tracker.formatting import pct
from tracker.trends import RegimeSearch, TrendsResult


def _number(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def _rounded(value: float) -> float | None:
    return None if value != value else round(float(value), 4)


def _series_rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {
            "date": r.period.date().isoformat(),
            "key": r.key,
            "documents": int(r.documents),
            "unscored": int(r.unscored),
            "mean_hostility": _rounded(r.mean_hostility),
            "hostile_share": _rounded(r.hostile_share),
            "violent_share": _rounded(r.violent_share),
            "low_volume": bool(r.low_volume),
        }
        for r in frame.itertuples(index=False)
    ]


def trends_as_json(result: TrendsResult, weak: bool = False) -> dict[str, object]:
    """The `tracker trends --json` document (with `weak`, also the weak change points hidden by merging)."""
    series = _series_rows(result.daily)
    if result.daily_by_key is not None:
        series += _series_rows(result.daily_by_key)
    return {
        "from": result.start.isoformat(),
        "to": result.end.isoformat(),
        "model_versions": result.versions,
        "count": result.unit,
        "change_points": [d.isoformat() for d in result.change_points],
        "change_point_strength": [c.as_dict() for c in result.strengths],
        "regimes": [r.as_dict() for r in result.regimes],
        "long_run": {"median_daily_hostility": round(result.reference, 4), "spread": round(result.spread, 4)},
        "notes": list(result.notes),
        "hidden_change_points": len(result.hidden),
        **({"weak_change_points": [c.as_dict() for c in result.hidden]} if weak else {}),
        **(
            {"by": result.by, "scopes": {key: _search_dict(s, weak) for key, s in result.scopes.items()}}
            if result.by
            else {}
        ),
        "series": series,
    }


def _search_dict(search: RegimeSearch, weak: bool) -> dict[str, object]:
    return {
        "change_points": [d.isoformat() for d in search.change_points],
        "change_point_strength": [c.as_dict() for c in search.strengths],
        "regimes": [r.as_dict() for r in search.regimes],
        "long_run": {"median_daily_hostility": round(search.reference, 4), "spread": round(search.spread, 4)},
        "documents": sum(r.documents for r in search.regimes),
        "hidden_change_points": len(search.hidden),
        **({"weak_change_points": [c.as_dict() for c in search.hidden]} if weak else {}),
    }


def _unit(result: TrendsResult) -> str:
    return "stories (copies counted once)" if result.unit == "stories" else "documents (every copy)"


def trends_as_text(result: TrendsResult, weeks: int = 12, weak: bool = False) -> str:
    """A readable summary: regimes, change points, the last weeks, and keys when split (with `weak`, the weak
    change points hidden by merging are listed too)."""
    d = result.daily
    lines = [
        f"Hostility {result.start} to {result.end}: {int(d['documents'].sum()):,} scored {_unit(result)} from "
        f"{len(result.sources)} sources, {int(d['unscored'].sum()):,} not scored; model {', '.join(result.versions)}",
        f"Scale: 0 = cooperative, 1 = violent. Long-run median of daily means {result.reference:.3f}; "
        f"calm below {result.reference - result.spread:.3f}, escalation above {result.reference + result.spread:.3f}.",
        "",
        f"{'regime':<12}{'from':<12}{'to':<12}{'days':>6}{'mean':>8}{'documents':>11}  absolute reading",
    ]
    for r in result.regimes:
        days = (r.end - r.start).days + 1
        lines.append(
            f"{r.kind:<12}{r.start!s:<12}{r.end!s:<12}{days:>6}{r.mean_hostility:>8.3f}{r.documents:>11,}  {r.absolute}"
        )
    strength = {c.day: c for c in result.strengths}
    shown = [
        f"{d} ({strength[d].jump:+.2f}, z {strength[d].z:.0f})" if d in strength else str(d)
        for d in result.change_points
    ]
    lines += ["", "change points: " + (", ".join(shown) or "none")]
    if result.hidden and weak:
        lines.append(
            "weak change points, hidden (their two sides merged into one regime): "
            + ", ".join(f"{c.day} ({c.jump:+.2f}, z {c.z:.1f})" for c in result.hidden)
        )
    elif result.hidden:
        lines.append(
            f"{len(result.hidden)} weak change point(s) hidden (merged into their neighbours); --weak lists them"
        )
    lines += [f"note: {note}" for note in result.notes] + [""]
    lines.append(f"{'ISO week':<10}{'documents':>10}{'unscored':>10}{'mean':>8}{'hostile':>9}{'violent':>9}")
    for r in result.weekly.tail(weeks).itertuples(index=False):
        iso = r.period.isocalendar()
        flag = "  (low volume)" if r.low_volume else ""
        lines.append(
            f"{iso.year}-W{iso.week:02d}{r.documents:>10,}{r.unscored:>10,}{_number(r.mean_hostility):>8}"
            f"{pct(r.hostile_share, '-'):>9}{pct(r.violent_share, '-'):>9}{flag}"
        )
    if result.daily_by_key is not None:
        lines += ["", f"{'by ' + (result.by or ''):<30}{'documents':>10}{'mean':>8}{'hostile':>9}"]
        per = result.daily_by_key.groupby("key")[["documents", "hostility_sum", "hostile"]].sum()
        per = per.sort_values("documents", ascending=False)
        for key, r in per.iterrows():
            n = r["documents"]
            mean = r["hostility_sum"] / n if n else float("nan")
            share = r["hostile"] / n if n else float("nan")
            lines.append(f"{str(key)[:29]:<30}{int(n):>10,}{_number(mean):>8}{pct(share, '-'):>9}")
    return "\n".join(lines)
