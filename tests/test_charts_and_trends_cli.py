"""`tracker trends` and `tracker chart` on the scored demo corpus, and charts with Arabic text."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.image import imread

from tests.conftest import run_tracker
from tests.synthetic import piecewise_levels
from tracker import charts, trends
from tracker.models import Event
from tracker.render import render_figure


def test_trends_json_finds_the_calm_and_the_wave_in_the_demo(demo_home: Path) -> None:
    result = run_tracker("trends", "--json", home=demo_home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"change_points", "regimes", "series"}
    points = [date.fromisoformat(d) for d in data["change_points"]]
    for truth in (date(2022, 10, 27), date(2023, 10, 17)):
        assert min(abs((p - truth).days) for p in points) <= 21, (truth, points)
    regimes = [
        {**r, "start": date.fromisoformat(r["start"]), "end": date.fromisoformat(r["end"])} for r in data["regimes"]
    ]
    calm = next(r for r in regimes if r["start"] <= date(2023, 1, 15) <= r["end"])
    assert calm["kind"] == "calm" and calm["start"] <= date(2022, 11, 17) and calm["end"] >= date(2023, 4, 1)
    wave = next(r for r in regimes if r["start"] <= date(2023, 12, 1) <= r["end"])
    assert wave["kind"] == "escalation"
    assert all(set(r) == {"start", "end", "kind", "absolute", "mean_hostility", "documents"} for r in data["regimes"])
    assert wave["absolute"] == "mostly threatening" and calm["absolute"] in ("mostly neutral", "mostly critical")
    strengths = {c["day"]: c for c in data["change_point_strength"]}
    assert set(strengths) == set(data["change_points"])
    assert all(abs(c["z"]) >= 3 for c in strengths.values())  # every change found stands well above the noise
    row = data["series"][0]
    assert set(row) >= {"date", "documents", "unscored", "mean_hostility", "hostile_share", "low_volume"}
    assert data["count"] == "stories"
    stories = sum(r["documents"] for r in data["series"])
    assert 3470 <= stories < 3487  # the demo's few reposts of one text within days count once
    assert sum(r["unscored"] for r in data["series"]) == 0  # nothing in the demo is left unscored for its language
    every = json.loads(run_tracker("trends", "--json", "--count", "documents", home=demo_home).stdout)
    assert every["count"] == "documents"
    assert sum(r["documents"] for r in every["series"]) == 3487  # Arabic statements included: one model for both


def test_trends_table_and_split_by_actor(demo_home: Path) -> None:
    result = run_tracker("trends", "--from", "2022-06-01", "--to", "2023-12-31", "--by", "actor", home=demo_home)
    assert result.returncode == 0, result.stderr
    assert "Hostility 2022-06-01 to 2023-12-31" in result.stdout
    assert "calm" in result.stdout and "Kataib Hezbollah" in result.stdout
    bad = run_tracker("trends", "--from", "2030-01-01", home=demo_home)
    assert bad.returncode == 1 and "no documents in that period" in bad.stderr


def _non_blank(path: Path) -> float:
    image = imread(path)
    rgb = image[..., :3]
    return float((np.abs(rgb - 1.0).sum(axis=-1) > 0.1).mean())


def test_chart_writes_briefing_ready_png_and_svg(demo_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "charts"
    result = run_tracker("chart", "--out", str(out), home=demo_home)
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert names == {f"{n}.{ext}" for n in ("trend", "weekly_hostile_share", "by_actor") for ext in ("png", "svg")}
    for png in out.glob("*.png"):
        image = imread(png)
        assert image.shape[:2] == (1500, 2666)  # 13.33 x 7.5 in at 200 dpi
        assert 0.03 < _non_blank(png) < 0.9
    svg = (out / "trend.svg").read_text(encoding="utf-8")
    assert "Hostility in statements and news, all actors" in svg
    assert "1 Jan 2021 – 30 Jun 2024" in svg and "from 8 sources" in svg
    for label in ("Sudani government formed", "Green Zone clashes", "Iraqi parliamentary election"):
        assert label in svg
    assert "SYNTHETIC demo data" in svg and "e5-hostility-v2@" in svg
    assert "Escalation" in svg and "Calm" in svg
    assert "(mean; opening jump · z)" in svg and re.search(r"[+-]0\.\d\d · z \d+", svg)  # change strength
    assert "Kataib Hezbollah" in (out / "by_actor.svg").read_text(encoding="utf-8")


def test_arabic_actor_names_and_event_labels_are_kept_as_text(tmp_path: Path) -> None:
    agg, _ = piecewise_levels([2, 1, 3], [120, 90, 60], seed=1)
    arabic = agg.assign(key="كتائب حزب الله")
    latin = agg.assign(key="Harakat al-Nujaba")
    daily = trends.build_series(agg)
    weekly = trends.build_series(agg, freq="W")
    _, regimes = trends.detect_regimes(daily, trends.make_detector("pelt"))
    meta = charts.ChartMeta(
        start=daily["period"].min().date(),
        end=daily["period"].max().date(),
        sources=2,
        documents=int(daily["documents"].sum()),
        unscored=0,
        models=["m@1"],
        made_on=date(2026, 11, 24),
    )
    events = [Event(date(2022, 5, 1), "تشكيل الحكومة الجديدة")]
    trend = render_figure(charts.trend_chart(daily, regimes, events, meta), tmp_path, "trend")
    multi = render_figure(
        charts.small_multiples(trends.build_series(pd.concat([arabic, latin]), freq="W"), weekly, meta, by="actor"),
        tmp_path,
        "multi",
    )
    assert "تشكيل الحكومة الجديدة" in trend[1].read_text(encoding="utf-8")
    assert "كتائب حزب الله" in multi[1].read_text(encoding="utf-8")
    assert _non_blank(trend[0]) > 0.03 and _non_blank(multi[0]) > 0.03


def test_trends_by_kind_gives_statements_and_reports_their_own_regimes(demo_home: Path) -> None:
    result = run_tracker("trends", "--by", "kind", "--json", "--weak", home=demo_home)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["by"] == "kind" and set(data["scopes"]) == {"statement", "report"}
    total = sum(r["documents"] for r in data["regimes"])
    assert sum(s["documents"] for s in data["scopes"].values()) == total
    for scope in data["scopes"].values():
        assert scope["regimes"] and {"start", "end", "kind", "mean_hostility"} <= set(scope["regimes"][0])
        assert len(scope["change_points"]) == len(scope["regimes"]) - 1
        assert len(scope["weak_change_points"]) == scope["hidden_change_points"]
    assert data["hidden_change_points"] == len(data["weak_change_points"])


def test_trends_on_an_empty_store_say_so_without_touching_the_model(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for args in (("trends", "--json"), ("chart", "--out", str(tmp_path / "charts")), ("report", "--week", "2023-W44")):
        result = run_tracker(*args, home=home)
        assert result.returncode != 0 and "no documents" in result.stderr, (args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr
    # no model version was needed, so the shipped encoder was never converted into the model cache
    assert not (home / "models").exists() or not any((home / "models").iterdir())
