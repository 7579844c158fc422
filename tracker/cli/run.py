"""Commands on unattended work and its outputs: report, run, schedule, status, demo."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import click

from tracker.cli.app import App, cli, pass_app, utc_now
from tracker.cli.output import RejectLog, print_cycle
from tracker.config import Settings
from tracker.pipeline.common import open_store
from tracker.pipeline.demo import run_demo
from tracker.pipeline.report import last_complete_week, write_report
from tracker.pipeline.run import run_once
from tracker.pipeline.status import status as store_status
from tracker.progress import make_progress
from tracker.reports import iso_week, week_start
from tracker.scheduler import run_scheduler


@cli.command()
@click.option("--week", default=None, help="ISO week, e.g. 2023-W43 (default: the last complete week).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (default: reports/WEEK in the tracker home's outputs).",
)
@pass_app
def report(app: App, week: str | None, out: Path | None) -> None:
    """Write the weekly report: report.md, a self-contained report.html, report.pdf, and the charts beside them."""
    settings = app.settings
    now = utc_now()
    try:
        monday = week_start(week) if week else last_complete_week(now.date())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from None
    with open_store(settings) as store:
        files = write_report(
            settings, store, week=monday, out=out or settings.outputs_dir / "reports" / iso_week(monday), now=now
        )
    click.echo(f"weekly report {files.week}:")
    for path in (files.markdown, files.html, files.pdf):
        click.echo(f"  {path}")
    click.echo(f"  charts: {', '.join(p.name for p in files.charts)}")


EXIT_PARTIAL = 3


@cli.command("run")
@pass_app
def run_cmd(app: App) -> None:
    """One cycle: fetch every source, store, score, update alerts and deliver, write last week's report.

    Exit status: 0 when all went well; 3 when the cycle finished but a source or an alert delivery failed (what
    failed is printed and kept in the run record; undelivered alerts wait in the outbox); 1 when the cycle could
    not run (another run holds the lock, bad config, the store unreachable)."""
    settings = app.settings
    now = utc_now()
    with open_store(settings) as store, RejectLog(settings, now, "run") as rejects:
        result = run_once(settings, store, now=now, progress=make_progress, on_error=rejects.add, clock=utc_now)
        rejects.finish()
    print_cycle(result)
    if result.failures:
        raise click.exceptions.Exit(EXIT_PARTIAL)


@cli.command()
@pass_app
def schedule(app: App) -> None:
    """Run the scheduler in the foreground (jobs from config, UTC); SIGTERM or Ctrl-C stops it cleanly."""
    run_scheduler(app.settings, app.config or os.environ.get("TRACKER_CONFIG"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """The last runs with their counts and errors, the next scheduled times, and totals."""
    with open_store(app.settings) as store:
        info = store_status(store)
    if as_json:
        click.echo(json.dumps(info, indent=1, default=str))
        return
    t = info["totals"]
    click.echo(
        f"documents {t['documents']:,}  scores {t['scores']:,}  open alerts {t['open_alerts']}  "
        f"outbox waiting {t['outbox_waiting']}"
    )
    for lock in info["locks"]:
        click.echo(
            f"lock {lock['name']}: held by {lock['holder']} since {lock['since']} (expires {lock['expires_at']})"
        )
    for job in info["next_runs"]:
        click.echo(f"next {job['id']}: {job['next_run_time']}")
    for r in info["runs"]:
        counts = {k: v for k, v in r["counts"].items() if not isinstance(v, list | dict)}
        click.echo(
            f"run {r['id']} {r['kind']:<7} {r['status']:<8} {r['started_at']}  {counts}"
            + (f"  error: {r['error']}" if r["error"] else "")
        )


@cli.command()
@pass_app
def demo(app: App) -> None:
    """Run the main job on the bundled synthetic demo corpus and print where the outputs are."""
    settings = app.settings
    now = utc_now()
    with open_store(settings) as store, RejectLog(settings, now, "demo") as rejects:
        result = run_demo(settings, store, now=now, progress=make_progress, on_error=rejects.add, clock=utc_now)
        rejects.finish()
        total = store.count_documents()
    print_cycle(result.cycle)
    click.echo(f"store holds {total:,} documents")
    click.echo("")
    click.echo(
        "regimes: " + "; ".join(f"{r.kind} {r.start}..{r.end} ({r.mean_hostility:.2f})" for r in result.trends.regimes)
    )
    click.echo(f"alerts (backtest, nothing sent): {len(result.alerts)}")
    for a in result.alerts:
        click.echo(f"  {a['opened_at']} .. {a['resolved_at'] or 'open'}  {a['rule']} {a['scope']} ({a['severity']})")
    click.echo("")
    click.echo("Demo outputs:")
    click.echo(f"  database: {settings.store_label}")
    click.echo(f"  charts:   {result.charts[0].parent}")
    for path in result.charts:
        if path.suffix == ".png":
            click.echo(f"            {path.name} (+ .svg)")
    click.echo(f"  report:   {result.report.html}")
    click.echo(f"            {result.report.pdf}")
    click.echo(f"            {result.report.markdown}")
    click.echo(f"  trends:   {_follow_up(settings)}")
    rejected = sum(src.rejected for src in result.cycle.sources)
    if rejected:
        click.echo(f"  warning: {rejected} demo rows were rejected", err=True)


def _follow_up(settings: Settings) -> str:
    """The command to see the trends of this store, runnable from any folder."""
    home = f"TRACKER_HOME={shlex.quote(str(settings.home))} " if settings.home_from == "TRACKER_HOME" else ""
    config = f"--config {shlex.quote(str(settings.config_path))} " if settings.config_path else ""
    if not config and not home:
        home = f"TRACKER_HOME={shlex.quote(str(settings.home))} "
    return f"{home}tracker {config}trends"
