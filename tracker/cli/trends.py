"""Commands on trends: trends, chart."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from tracker.cli.app import App, cli, date_option, day, pass_app, utc_now
from tracker.pipeline.common import open_store
from tracker.pipeline.trends import compute_trends, make_charts
from tracker.regime_alerts import RULE as REGIME_RULE
from tracker.views import trends_as_json, trends_as_text

BY = click.Choice(["actor", "source", "language", "kind", "target"])


@cli.command()
@date_option("--from", "First day (YYYY-MM-DD, UTC); default: the first document.")
@date_option("--to", "Last day, inclusive; default: the last document.")
@click.option(
    "--by",
    type=BY,
    default=None,
    help="Split by actor, source, language, kind or target: each key's own change points and regimes too.",
)
@click.option("--json", "as_json", is_flag=True, help="Print change points, regimes and the daily series as JSON.")
@click.option(
    "--weak", is_flag=True, help="Also list the weak change points (|z| under trends.min_change_z), hidden by default."
)
@click.option(
    "--count",
    type=click.Choice(["stories", "documents"]),
    default=None,
    help="Count stories (forwards and copies of one text once; default: trends.count) or every document.",
)
@pass_app
def trends(app: App, as_json: bool, weak: bool, by: str | None, count: str | None, **dates: datetime | None) -> None:
    """Daily and weekly hostility series, change points, and calm / normal / escalation regimes."""
    since, until = day(dates.get("from")), day(dates.get("to"))
    with open_store(app.settings) as store:
        result = compute_trends(app.settings, store, since=since, until=until, by=by, unit=count)
    if as_json:
        click.echo(json.dumps(trends_as_json(result, weak=weak), indent=1))
    else:
        click.echo(trends_as_text(result, weak=weak))


@cli.command()
@date_option("--from", "First day (YYYY-MM-DD, UTC); default: the first document.")
@date_option("--to", "Last day, inclusive; default: the last document.")
@click.option(
    "--by",
    type=BY,
    default="actor",
    show_default=True,
    help="Small multiples by actor, source, language, kind or target.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: charts/ in the tracker home's outputs).",
)
@pass_app
def chart(app: App, by: str, out: Path | None, **dates: datetime | None) -> None:
    """Write the briefing charts (PNG at 200 dpi and SVG): trend with regimes, weekly hostile share, by actor."""
    settings = app.settings
    since, until = day(dates.get("from")), day(dates.get("to"))
    with open_store(settings) as store:
        result = compute_trends(settings, store, since=since, until=until, by=by)
        opened = [
            a.opened_at
            for a in store.list_alerts(limit=10_000)
            if result.start <= a.opened_at <= result.end and a.rule != REGIME_RULE  # spikes; regimes are shaded
        ]
    paths = make_charts(
        settings, result, out or settings.outputs_dir / "charts", made_on=utc_now().date(), alerts=opened
    )
    for path in paths:
        click.echo(str(path))
