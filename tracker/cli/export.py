"""`tracker export`: scored documents to CSV, Parquet or JSON Lines."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import click

from tracker.cli.app import App, cli, date_option, day, pass_app
from tracker.explanations import explanation_as_text
from tracker.pipeline.common import open_store
from tracker.pipeline.export import explain_period, export_documents
from tracker.progress import make_progress
from tracker.reports import week_start

SCOPE_HELP = "overall (default), actor:NAME, source:NAME, language:CODE, kind:KIND or target:CODE."


@cli.command("export")
@date_option("--from", "First day (YYYY-MM-DD, UTC); default: the first document.")
@date_option("--to", "Last day, inclusive; default: the last document.")
@click.option("--scope", default=None, help=SCOPE_HELP)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet", "jsonl"]),
    default=None,
    help="Default: from --out's suffix.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The file to write.")
@pass_app
def export(app: App, scope: str | None, fmt: str | None, out: Path, **dates: datetime | None) -> None:
    """Every document in the period with its score, level, targets, kind and model version (empty score fields:
    not scored), streamed; CSV cells that a spreadsheet would run as formulas are prefixed with an apostrophe."""
    with open_store(app.settings) as store:
        summary = export_documents(
            app.settings,
            store,
            out=out,
            fmt=fmt,
            since=day(dates.get("from")),
            until=day(dates.get("to")),
            scope=scope,
            progress=make_progress,
        )
    versions = ", ".join(summary.versions)
    click.echo(f"wrote {summary.rows:,} documents ({summary.scored:,} scored by {versions}) to {summary.path}")


@cli.command("explain")
@date_option("--day", "The day (YYYY-MM-DD, UTC).")
@click.option("--week", default=None, help="An ISO week instead, e.g. 2023-W44.")
@click.option("--scope", default=None, help=SCOPE_HELP)
@click.option("--limit", default=5, show_default=True, help="Statements per list.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def explain(app: App, week: str | None, scope: str | None, limit: int, as_json: bool, **dates: datetime | None) -> None:
    """The statements behind a move on a day or in a week: the most hostile, the most copied, and the hostile
    ones new against the week before, with their sources and links."""
    start = day(dates.get("day"))
    if (start is None) == (week is None):
        raise click.UsageError("give --day or --week")
    if week is not None:
        try:
            start = week_start(week)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    assert start is not None
    end = start + timedelta(days=6) if week is not None else start
    with open_store(app.settings) as store:
        result = explain_period(app.settings, store, start=start, end=end, scope=scope, limit=limit)
    click.echo(json.dumps(result.as_dict(), indent=1, ensure_ascii=False) if as_json else explanation_as_text(result))
