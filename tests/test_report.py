"""The weekly report: content, escaping, Arabic, the PDF as pages, the HTML in headless Chromium, and the
exploration notebook run end to end against the demo store."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from tests.conftest import REPO, run_tracker
from tracker.models import Regime
from tracker.render import render_html, render_markdown, render_pdf
from tracker.reports import WeeklyReport, build_weekly_report, direction_of, text_direction, week_start

ARABIC = "المقاومة الإسلامية تعلن استهداف قاعدة الاحتلال الأمريكية بالطائرات المسيرة"
SCRIPT = '<script>alert("x")</script><img src="http://example.org/track.png">'


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {tool}; .ci/run installs it")
        pytest.skip(f"{tool} not installed (apt-get install it, or run .ci/run)")
    return path


def test_direction_needs_a_move_against_both_the_prior_week_and_the_norm() -> None:
    assert direction_of(0.7, 0.5, 0.5, 0.1) == "deteriorated"
    assert direction_of(0.7, 0.65, 0.5, 0.1) == "unchanged"
    assert direction_of(0.3, 0.5, 0.45, 0.1) == "improved"
    assert direction_of(0.3, float("nan"), 0.45, 0.1) == "unchanged"
    assert week_start("2023-W44") == date(2023, 10, 30)
    with pytest.raises(ValueError, match="2023-W43"):
        week_start("last week")
    assert text_direction(ARABIC) == "rtl" and text_direction("Death to America") == "ltr"


def sample_report() -> WeeklyReport:
    import pandas as pd

    weeks = pd.date_range("2023-09-04", periods=9, freq="7D")
    shares = [0.3, 0.32, 0.28, 0.31, 0.3, 0.29, 0.33, 0.3, 0.7]
    weekly = pd.DataFrame(
        {
            "period": weeks,
            "key": "all",
            "documents": 40,
            "unscored": 2,
            "hostile": 0,
            "violent": 0,
            "hostility_sum": 0.0,
            "mean_hostility": 0.5,
            "hostile_share": shares,
            "violent_share": 0.1,
            "low_volume": False,
        }
    )
    statements = [
        {
            "text": SCRIPT,
            "source": "tg",
            "published_at": datetime(2023, 11, 1, tzinfo=UTC),
            "actor": "A",
            "level": 4,
            "hostility": 0.97,
        },
        {
            "text": ARABIC,
            "source": "tg_ar",
            "published_at": datetime(2023, 11, 2, tzinfo=UTC),
            "actor": "كتائب حزب الله",
            "level": 4,
            "hostility": 0.95,
        },
        {
            "text": "We warn the occupiers.",
            "source": "wire",
            "published_at": datetime(2023, 11, 3, tzinfo=UTC),
            "actor": None,
            "level": 3,
            "hostility": 0.8,
        },
    ]
    report = build_weekly_report(
        start=date(2023, 10, 30),
        weekly=weekly,
        weekly_by_actor=None,
        weekly_by_source=None,
        regimes=[Regime(date(2023, 10, 17), date(2024, 1, 31), "escalation", 0.78, 650)],
        change_points=[date(2023, 10, 17)],
        alerts=[],
        statements=statements,
        methodology={"text": "Method <b>note</b>.", "threshold_pp": 10, "min_weekly": 10},
    )
    import base64
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    plt.imsave(buffer, np.ones((4, 4, 3)), format="png")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    from dataclasses import replace

    return replace(report, charts={"trend_png": "trend.png", "trend_data_uri": uri})


def test_report_content_and_escaping(tmp_path: Path) -> None:
    report = sample_report()
    assert report.direction == "deteriorated"
    assert report.headline.startswith("Hostility rose in 2023-W44: 70% of 40 scored documents")
    html = render_html(report)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert 'src="http://example.org' not in html  # the <img> inside the statement is text, not a request
    assert "Method &lt;b&gt;note&lt;/b&gt;." in html
    assert f'dir="rtl">“{ARABIC}”' in html
    md = render_markdown(report, tmp_path / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "\\<script\\>" in md
    assert ARABIC in md


def test_the_pdf_renders_arabic_joined_and_escaped_text(tmp_path: Path) -> None:
    need("pdftoppm")
    need("pdftotext")
    pdf = render_pdf(render_html(sample_report()), tmp_path / "report.pdf")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert '<script>alert("x")</script>' in text  # shown as text, harmlessly
    arabic_words = [w for w in ARABIC.split() if w in text]
    assert len(arabic_words) >= 5, text[-600:]
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert 1 <= len(pages) <= 2
    ink = (np.abs(imread(pages[0])[..., :3] - 1.0).sum(axis=-1) > 0.2).mean()
    assert ink > 0.02


@pytest.fixture(scope="module")
def demo_report(demo_home: Path) -> Path:
    out = demo_home / "report-test"
    result = run_tracker("report", "--week", "2023-W44", "--out", str(out), home=demo_home)
    assert result.returncode == 0, result.stderr
    return out


def test_report_command_writes_the_same_numbers_in_all_three(demo_report: Path) -> None:
    md = (demo_report / "report.md").read_text(encoding="utf-8")
    html = (demo_report / "report.html").read_text(encoding="utf-8")
    headline = md.split("**")[1]
    assert headline.startswith("Hostility") and "2023-W44" in headline
    assert headline in html
    need("pdftotext")
    text = subprocess.run(
        ["pdftotext", "-raw", str(demo_report / "report.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert " ".join(headline.split()[:6]) in " ".join(text.split())
    for name in ("trend.png", "trend.svg", "weekly_hostile_share.png", "report.pdf"):
        assert (demo_report / name).stat().st_size > 1000
    assert "SYNTHETIC" in md


def test_report_html_in_headless_chromium_loads_every_image_and_nothing_from_the_network(
    demo_report: Path, tmp_path: Path
) -> None:
    chromium = need("chromium")
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        page.on("request", lambda r: requests.append(r.url))
        page.goto((demo_report / "report.html").as_uri(), wait_until="load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert images and all(ok and width > 0 for ok, width, _ in images), images
    assert all(src.startswith("data:image/png") for _, _, src in images)
    outside = [u for u in requests if not u.startswith(("file://", "data:"))]
    assert outside == []
    shot = imread(tmp_path / "report.png")
    assert shot.shape[0] > 1400 and (np.abs(shot[..., :3] - 1.0).sum(axis=-1) > 0.2).mean() > 0.02


def test_the_notebook_runs_end_to_end_against_the_demo_store(demo_home: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    path = REPO / "notebooks" / "explore.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit notebooks stripped"
    os.environ["TRACKER_HOME"], old = str(demo_home), os.environ.get("TRACKER_HOME")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        if old is None:
            os.environ.pop("TRACKER_HOME", None)
        else:
            os.environ["TRACKER_HOME"] = old
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "escalation" in text and "spike day:" in text and "level 4" in text


def test_data_strings_are_escaped_and_stripped_of_nul_and_bidi_controls(tmp_path: Path) -> None:
    """Issue 13, fault 9: a hostile source name or methodology string never reaches the Markdown raw; NUL and
    bidi embedding/override/isolate controls are dropped in both outputs."""
    from dataclasses import replace

    report = sample_report()
    evil = '<img src=x onerror="alert(1)">'
    hidden = "We warn\x00 the \u202eoccupiers\u202c \u2066now\u2069."
    report = replace(
        report,
        statements=[replace(st, source=evil, text=hidden) for st in report.statements],
        methodology={**report.methodology, "text": f"Sources covered: 1 ({evil})."},
    )
    md = render_markdown(report, tmp_path / "report.md").read_text(encoding="utf-8")
    html = render_html(report)
    assert not re.search(r"(?<!\\)<img", md) and '\\<img src=x onerror="alert\\(1\\)"\\>' in md
    assert "<img src=x" not in html and "&lt;img src=x" in html
    for out in (md, html):
        assert not any(ch in out for ch in "\x00\u202e\u202c\u2066\u2069")
        assert "occupiers" in out


def test_the_report_gives_the_target_heads_dev_figures_from_the_models_card(demo_report: Path) -> None:
    card = Path(__file__).resolve().parents[1] / "tracker" / "data" / "models" / "e5-hostility-v2" / "head.json"
    dev = json.loads(card.read_text(encoding="utf-8"))["targets"]["dev_metrics"]
    md = (demo_report / "report.md").read_text(encoding="utf-8")
    us = f"the United States {dev['en']['US']['f1']:.2f} / {dev['ar']['US']['f1']:.2f}"
    iqg = f"the Iraqi government {dev['en']['IQG']['f1']:.2f} / {dev['ar']['IQG']['f1']:.2f}"
    assert "(English / Arabic): " in md and us in md and iqg in md


def test_the_report_and_tracker_trends_name_the_same_regime(demo_report: Path, demo_home: Path) -> None:
    """Issue 13: one source of truth for when the escalation began."""
    trends = json.loads(run_tracker("trends", "--json", home=demo_home).stdout)
    covering = next(r for r in trends["regimes"] if r["start"] <= "2023-11-05" <= r["end"])
    md = (demo_report / "report.md").read_text(encoding="utf-8")
    assert f"Current regime: **{covering['kind']}** since {covering['start']}" in md


def test_the_toward_whom_table_counts_statements_and_reports_apart(tmp_path: Path) -> None:
    import pandas as pd

    from tracker import trends
    from tracker.reports import target_rows

    def agg(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:  # day, key, documents, hostile
        frame = pd.DataFrame(rows, columns=["day", "key", "documents", "hostile"])
        frame["day"] = pd.to_datetime(frame["day"])
        return frame.assign(unscored=0, hostility_sum=frame["documents"] * 0.5, violent=0)

    by_target = trends.build_series(
        agg(
            [
                ("2023-10-24", "US", 10, 1),
                ("2023-11-01", "US", 8, 6),
                ("2023-11-02", "ISR", 4, 4),
                ("2023-10-25", "TUR", 2, 0),
                ("2023-11-03", "GULF", 3, 0),
            ]
        ),
        freq="W",
    )
    by_kind = trends.build_series(
        agg(
            [
                ("2023-11-01", "US|statement", 5, 5),
                ("2023-11-01", "US|report", 3, 1),
                ("2023-11-02", "ISR|report", 4, 4),
                ("2023-11-03", "GULF|report", 1, 0),
                ("2023-11-03", "GULF|(not named)", 2, 0),  # stored before kinds were recorded
            ]
        ),
        freq="W",
    )
    rows = target_rows(by_target, by_kind, date(2023, 10, 30))
    assert [r.code for r in rows] == ["US", "ISR", "TUR", "GULF"]  # the table's order; TUR only in the prior week
    us, isr, tur, gulf = rows
    assert (us.documents, us.statements, us.reports, us.prior_documents) == (8, 5, 3, 10)
    assert us.no_kind == 0 and (gulf.documents, gulf.statements, gulf.reports, gulf.no_kind) == (3, 0, 1, 2)
    assert us.hostile_share == 6 / 8 and abs(us.change - (6 / 8 - 1 / 10)) < 1e-12
    assert (isr.statements, isr.reports) == (0, 4) and isr.prior_share != isr.prior_share  # no prior week: n/a
    assert tur.documents == 0 and tur.prior_documents == 2
    report = replace_targets(sample_report(), rows)
    html = render_html(report)
    assert "Toward whom" in html and "the United States" in html and "<td>5</td><td>3</td>" in html
    md = render_markdown(report, tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| the United States | 8 | 5 | 3 | 0.50 | 75% | +65 pts |" in md
    # rows whose kinds fall short of their documents say why, in both renderings; complete rows are not named
    assert "count in documents only (the Gulf states 2)." in md
    assert "count in documents only (the Gulf states 2)." in html
    complete = render_markdown(replace_targets(report, rows[:3]), tmp_path / "complete.md").read_text(encoding="utf-8")
    assert "before their kind was recorded" not in complete
    # a week where no document has a kind says so once instead of naming every row
    bare = [replace(r, statements=0, reports=0) for r in rows]
    assert replace_targets(report, bare).kinds_note.startswith("No document this week has a recorded kind")
    empty = render_markdown(sample_report(), tmp_path / "empty.md").read_text(encoding="utf-8")
    assert "No targets this week" in empty
    # how well the model reads each target, per language, for the table's rows that have figures
    assert report.quality_note == ""  # no figures from the model's card: nothing said
    rated = replace(report, target_quality={"en": {"US": 0.89, "ISR": 0.92, "IQG": 0.78}, "ar": {"US": 0.904}})
    note = "dev sets shipped with the model (English / Arabic): the United States 0.89 / 0.90, Israel 0.92 / n/a."
    assert note in rated.quality_note  # TUR and the Gulf states have no figure; IQG has no row this week
    assert note in render_markdown(rated, tmp_path / "rated.md").read_text(encoding="utf-8")
    assert note in render_html(rated)


def replace_targets(report: WeeklyReport, rows: list) -> WeeklyReport:  # type: ignore[type-arg]
    from dataclasses import replace

    return replace(report, by_target=rows)
