"""`tracker export`: scored documents to CSV, Parquet or JSON Lines."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from tracker.cli.app import App, cli, date_option, day, pass_app
from tracker.pipeline.common import open_store
from tracker.pipeline.export import export_documents
from tracker.progress import make_progress


@cli.command("export")
@date_option("--from", "First day (YYYY-MM-DD, UTC); default: the first document.")
@date_option("--to", "Last day, inclusive; default: the last document.")
@click.option(
    "--scope", default=None, help="overall (default), actor:NAME, source:NAME, language:CODE, kind:KIND or target:CODE."
)
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
