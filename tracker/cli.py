"""The `tracker` command: each command parses options, calls one pipeline function, formats the result.

Errors the user can fix are one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import click
import yaml

from tracker import pipeline
from tracker.config import Settings, load_settings
from tracker.errors import TrackerError
from tracker.models import IngestSummary, RowError
from tracker.progress import make_progress
from tracker.scoring.transformer import resolve_path

SHOWN_ERRORS = 20


class App:
    """Per-invocation state: the config is read once, on first use."""

    def __init__(self, config: str | None) -> None:
        self.config = config
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
            logging.getLogger().setLevel(self._settings.log_level)
        return self._settings


pass_app = click.make_pass_decorator(App)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (default: $TRACKER_CONFIG, else ./config.yaml, else built-in defaults).",
)
@click.version_option(package_name="tracker")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Score the hostility of armed groups' rhetoric and the news about them, and follow its trends."""
    ctx.obj = App(config)


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@pass_app
def config_check(app: App) -> None:
    """Validate the config and print the effective settings (secrets masked)."""
    settings = app.settings
    where = settings.config_path or "built-in defaults (no config file)"
    click.echo(f"# config OK: {where}")
    click.echo(yaml.safe_dump(settings.effective(), sort_keys=False, allow_unicode=True).rstrip())


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", default=None, help="Source name for rows without a 'source' column (default: file name).")
@pass_app
def ingest(app: App, paths: tuple[Path, ...], source: str | None) -> None:
    """Read CSV/JSONL files (or folders of them) into the store; bad rows are reported and skipped."""
    settings = app.settings
    now = datetime.now(UTC)
    with pipeline.open_store(settings) as store, _RejectLog(settings, now) as rejects:
        summary = pipeline.ingest_paths(
            store,
            paths,
            pipeline.row_options(settings, source),
            now=now,
            batch_size=settings.ingest.batch_size,
            progress=make_progress,
            on_error=rejects.add,
        )
        rejects.finish(summary)
        _print_summary(summary, store.count_documents())
    click.echo(f"store: {_store_label(settings)}")
    if summary.read == 0:
        raise click.exceptions.Exit(1)


@cli.command()
@pass_app
def demo(app: App) -> None:
    """Run the main job on the bundled synthetic demo corpus and print where the outputs are."""
    settings = app.settings
    now = datetime.now(UTC)
    with pipeline.open_store(settings) as store:
        result = pipeline.run_demo(settings, store, now=now, progress=make_progress)
        total = store.count_documents()
    _print_cycle(result.cycle)
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
    click.echo(f"  database: {_store_label(settings)}")
    click.echo(f"  charts:   {result.charts[0].parent}")
    for path in result.charts:
        if path.suffix == ".png":
            click.echo(f"            {path.name} (+ .svg)")
    click.echo(f"  report:   {result.report.html}")
    click.echo(f"            {result.report.pdf}")
    click.echo(f"            {result.report.markdown}")
    click.echo(f"  trends:   tracker --config {settings.config_path or 'config.yaml'} trends")
    rejected = sum(src.rejected for src in result.cycle.sources)
    if rejected:
        click.echo(f"  warning: {rejected} demo rows were rejected", err=True)


@cli.command()
@click.option("--rescore", is_flag=True, help="Also score documents scored by an older model version.")
@pass_app
def score(app: App, rescore: bool) -> None:
    """Score every unscored document with the model configured for its language."""
    settings = app.settings
    now = datetime.now(UTC)
    with pipeline.open_store(settings) as store:
        result = pipeline.score(settings, store, now=now, rescore=rescore, progress=make_progress)
    _print_score_summary(result)


@cli.command()
@click.option(
    "--data",
    "data",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Labeled CSV files or folders (text,label). Default: the shipped seed set.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the head (default: models/minilm-hostility in the tracker home).",
)
@click.option(
    "--encoder",
    default=None,
    help="Sentence encoder (folder, hub id or package:...). Default: all-MiniLM-L6-v2 from its package.",
)
@click.option("--seed", default=13, show_default=True, help="Random seed for the split and cross-validation.")
@click.option("--holdout", default=0.2, show_default=True, help="Fraction held out for the reported metrics.")
@pass_app
def train(app: App, data: tuple[Path, ...], out: Path | None, encoder: str | None, seed: int, holdout: float) -> None:
    """Train the default model's head on the seed set (frozen encoder, logistic regression; minutes on a CPU)."""
    settings = app.settings
    if not 0 <= holdout < 0.9:
        raise click.BadParameter("must be between 0 and 0.9", param_hint="--holdout")
    result = pipeline.train(
        settings, data=list(data), out=out, encoder=encoder, seed=seed, holdout=holdout, now=datetime.now(UTC)
    )
    click.echo(f"trained on {result.train_size} texts in {result.seconds:.0f} s (C={result.c:g}); head in {result.out}")
    if result.holdout is not None:
        m = result.holdout
        click.echo(
            f"held-out ({result.holdout_size} texts): accuracy {m.accuracy:.3f}, macro-F1 {m.macro_f1:.3f}, "
            f"QWK {m.qwk:.3f}, Spearman {m.spearman:.3f}, AUC(hostile) {_fmt(m.auc_hostile)}"
        )
    configured = settings.scoring.models.get("en")
    if configured is None or configured.head is None or resolve_path(configured.head) != result.out.resolve():
        click.echo(f"to use it, set scoring.models.en.head to {result.out} in config.yaml")


@cli.command("eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", default=None, help="A configured language or model name, or a model/head folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@pass_app
def eval_(app: App, file: Path, model: str | None, as_json: bool) -> None:
    """Measure a model on a labeled CSV (text,label 0-4), beside the keyword-lexicon baseline."""
    result = pipeline.evaluate(app.settings, file, model)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    m, b = result.metrics, result.baseline
    click.echo(f"{file}: {m.n} texts, levels present {', '.join(map(str, m.levels_present))}")
    click.echo(f"{'metric':<14}{'model':>10}{'lexicon':>10}")
    for key in ("accuracy", "macro_f1", "qwk", "spearman", "auc_hostile"):
        click.echo(f"{key:<14}{_fmt(getattr(m, key)):>10}{_fmt(getattr(b, key)):>10}")
    click.echo(f"model: {result.model}")
    click.echo("confusion (rows: gold level 0-4, columns: predicted 0-4):")
    for level, row in enumerate(m.confusion):
        click.echo(f"  {level}: " + " ".join(f"{n:>4}" for n in row))


def _date_option(name: str, help_text: str) -> Callable[[Any], Any]:
    return click.option(name, type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help=help_text)


BY = click.Choice(["actor", "source", "language"])


@cli.command()
@_date_option("--from", "First day (YYYY-MM-DD, UTC); default: the first document.")
@_date_option("--to", "Last day, inclusive; default: the last document.")
@click.option("--by", type=BY, default=None, help="Split the series by actor, source or language.")
@click.option("--json", "as_json", is_flag=True, help="Print change points, regimes and the daily series as JSON.")
@pass_app
def trends(app: App, as_json: bool, by: str | None, **dates: datetime | None) -> None:
    """Daily and weekly hostility series, change points, and calm / normal / escalation regimes."""
    since, until = _day(dates.get("from")), _day(dates.get("to"))
    with pipeline.open_store(app.settings) as store:
        result = pipeline.compute_trends(app.settings, store, since=since, until=until, by=by)
    if as_json:
        click.echo(json.dumps(pipeline.trends_as_json(result), indent=1))
    else:
        click.echo(pipeline.trends_as_text(result))


@cli.command()
@_date_option("--from", "First day (YYYY-MM-DD, UTC); default: the first document.")
@_date_option("--to", "Last day, inclusive; default: the last document.")
@click.option("--by", type=BY, default="actor", show_default=True, help="Small multiples by actor, source or language.")
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
    since, until = _day(dates.get("from")), _day(dates.get("to"))
    with pipeline.open_store(settings) as store:
        result = pipeline.compute_trends(settings, store, since=since, until=until, by=by)
        opened = [a.opened_at for a in store.list_alerts(limit=10_000) if result.start <= a.opened_at <= result.end]
    paths = pipeline.make_charts(
        settings, result, out or settings.outputs_dir / "charts", made_on=date.today(), alerts=opened
    )
    for path in paths:
        click.echo(str(path))


@cli.group("alerts", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option(
    "--days", default=30, show_default=True, help="Also list alerts opened or resolved in the last DAYS days."
)
@click.pass_context
def alerts_group(ctx: click.Context, as_json: bool, days: int) -> None:
    """List open and recent alerts and active silences (subcommands: update, silence)."""
    if ctx.invoked_subcommand is not None:
        return
    app: App = ctx.obj
    today = datetime.now(UTC).date()
    with pipeline.open_store(app.settings) as store:
        listed = store.list_alerts(since=today - timedelta(days=days))
        quiet = store.active_silences(today)
        waiting = len(store.pending_outbox())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "alerts": [_alert_dict(a) for a in listed],
                    "silences": [
                        {"scope": s["scope"], "until": s["until"].isoformat(), "reason": s["reason"]} for s in quiet
                    ],
                    "outbox_waiting": waiting,
                },
                indent=1,
            )
        )
        return
    if not listed:
        click.echo(f"no open alerts, none in the last {days} days")
    for a in listed:
        state = f"resolved {a.resolved_at}" if a.resolved_at else "OPEN"
        click.echo(
            f"{a.opened_at}  {state:<20} {a.severity:<7} {a.rule:<14} {a.scope}  peak {100 * a.peak_share:.0f}% "
            f"vs baseline {100 * a.baseline_share:.0f}%"
        )
    for s in quiet:
        click.echo(f"silenced: {s['scope']} until {s['until']} ({s['reason']})")
    if waiting:
        click.echo(f"{waiting} message(s) waiting in the outbox (delivered on the next run)")


def _alert_dict(a: Any) -> dict[str, Any]:
    return {
        "id": a.id,
        "rule": a.rule,
        "scope": a.scope,
        "severity": a.severity,
        "opened_at": a.opened_at.isoformat(),
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
        "peak_share": round(a.peak_share, 4),
        "baseline_share": round(a.baseline_share, 4),
        "last_notified": a.last_notified.isoformat() if a.last_notified else None,
    }


@alerts_group.command("update")
@pass_app
def alerts_update(app: App) -> None:
    """Evaluate every complete day since the last run, open/resolve alerts, and deliver the outbox."""
    from tracker.alerting import update_alerts

    with pipeline.open_store(app.settings) as store:
        s = update_alerts(app.settings, store, now=datetime.now(UTC))
    click.echo(
        f"alerts: {s.evaluated_days:,} scope-days evaluated; opened {s.opened}, repeated {s.repeated}, "
        f"resolved {s.resolved}, silenced {s.silenced}; sent {s.sent}, failed {s.failed} (kept for retry), "
        f"waiting {s.waiting}"
    )


@alerts_group.command("silence")
@click.argument("scope")
@click.option("--until", "until", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day silenced.")
@click.option("--reason", required=True, help="Why (shown in listings).")
@pass_app
def alerts_silence(app: App, scope: str, until: datetime, reason: str) -> None:
    """Silence a scope ("overall", "actor:NAME", or "*") until a day: alerts are still recorded, not sent."""
    with pipeline.open_store(app.settings) as store:
        store.add_silence(scope, until.date(), reason, datetime.now(UTC))
    click.echo(f"silenced {scope} until {until.date()}: {reason}")


@cli.command()
@_date_option("--from", "First day replayed (YYYY-MM-DD).")
@_date_option("--to", "Last day replayed, inclusive.")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@pass_app
def backtest(app: App, as_json: bool, **dates: datetime | None) -> None:
    """Replay the alert rules day by day over stored scores, as if the job had run every day; sends nothing."""
    from tracker.alerting import backtest as run_backtest

    since, until = _day(dates.get("from")), _day(dates.get("to"))
    if since is None or until is None:
        raise click.UsageError("give both --from and --to")
    with pipeline.open_store(app.settings) as store:
        found = run_backtest(app.settings, store, since=since, until=until)
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    click.echo(f"{len(found)} alert(s) would have opened between {since} and {until}:")
    for a in found:
        end = a["resolved_at"] or "still open"
        click.echo(
            f"  {a['opened_at']} .. {end:<10}  {a['severity']:<7} {a['rule']:<14} {a['scope']}  "
            f"peak {100 * a['peak_share']:.0f}% vs baseline {100 * a['baseline_share']:.0f}%"
        )


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
    from tracker.reports import iso_week, week_start

    settings = app.settings
    now = datetime.now(UTC)
    try:
        monday = week_start(week) if week else pipeline.last_complete_week(now.date())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--week") from None
    with pipeline.open_store(settings) as store:
        files = pipeline.write_report(
            settings, store, week=monday, out=out or settings.outputs_dir / "reports" / iso_week(monday), now=now
        )
    click.echo(f"weekly report {files.week}:")
    for path in (files.markdown, files.html, files.pdf):
        click.echo(f"  {path}")
    click.echo(f"  charts: {', '.join(p.name for p in files.charts)}")


@cli.command("run")
@pass_app
def run_cmd(app: App) -> None:
    """One cycle: fetch every source, store, score, update alerts and deliver, write last week's report."""
    from tracker.cycle import run_once

    with pipeline.open_store(app.settings) as store:
        result = run_once(app.settings, store, now=datetime.now(UTC), progress=make_progress)
    _print_cycle(result)


def _print_cycle(result: Any) -> None:
    for s in result.sources:
        extra = f" ({s.error})" if s.error else ""
        click.echo(
            f"  {s.name:<24} {s.kind:<9} {s.status:<13} read {s.read:,}, added {s.added:,}, "
            f"rejected {s.rejected:,}{extra}"
        )
    click.echo(
        f"run {result.run_id}: added {result.added:,} documents, scored {result.scored:,}, alerts opened "
        f"{result.alerts.get('opened', 0)}, sent {result.alerts.get('sent', 0)}"
        + (f"; report {result.report}" if result.report else "")
    )


@cli.command()
@pass_app
def schedule(app: App) -> None:
    """Run the scheduler in the foreground (jobs from config, UTC); SIGTERM or Ctrl-C stops it cleanly."""
    from tracker.scheduler import run_scheduler

    run_scheduler(app.settings, app.config or os.environ.get("TRACKER_CONFIG"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_app
def status(app: App, as_json: bool) -> None:
    """The last runs with their counts and errors, the next scheduled times, and totals."""
    with pipeline.open_store(app.settings) as store:
        info = pipeline.status(app.settings, store)
    if as_json:
        click.echo(json.dumps(info, indent=1, default=str))
        return
    t = info["totals"]
    click.echo(
        f"documents {t['documents']:,}  scores {t['scores']:,}  open alerts {t['open_alerts']}  "
        f"outbox waiting {t['outbox_waiting']}"
    )
    for job in info["next_runs"]:
        click.echo(f"next {job['id']}: {job['next_run_time']}")
    for r in info["runs"]:
        counts = {k: v for k, v in r["counts"].items() if not isinstance(v, list | dict)}
        click.echo(
            f"run {r['id']} {r['kind']:<7} {r['status']:<8} {r['started_at']}  {counts}"
            + (f"  error: {r['error']}" if r["error"] else "")
        )


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_score_summary(result: Any) -> None:
    s = result
    click.echo(
        f"score: scored {s.scored:,} documents ({s.texts:,} distinct texts, {s.windowed:,} long texts windowed), "
        f"reused {s.reused:,} scores of identical texts"
        + (f", detected the language of {s.detected:,}" if s.detected else "")
    )
    for version, n in s.models.items():
        click.echo(f"  model {version}: {n:,} documents")
    if s.unscored:
        total = sum(s.unscored.values())
        reasons = "; ".join(f"{reason}: {n:,}" for reason, n in s.unscored.items())
        click.echo(f"  not scored: {total:,} ({reasons})")


def _print_summary(summary: IngestSummary, total: int) -> None:
    click.echo(
        f"ingest: read {summary.read:,} rows from {summary.files} file(s): added {summary.added:,}, "
        f"duplicates {summary.duplicates:,}, rejected {summary.rejected:,} (store now holds {total:,} documents)"
    )


def _store_label(settings: Settings) -> str:
    if settings.store.url is None:
        return str(settings.home / "tracker.db")
    from tracker.config import mask_url

    return mask_url(settings.store.url)


class _RejectLog:
    """Shows the first rejected rows on stderr and writes all of them to a file in the tracker home."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self.path = settings.home / "logs" / f"ingest-{now:%Y%m%dT%H%M%S}-rejected.txt"
        self.count = 0
        self._file: TextIO | None = None

    def __enter__(self) -> _RejectLog:
        return self

    def add(self, err: RowError) -> None:
        self.count += 1
        if self.count <= SHOWN_ERRORS:
            click.echo(f"rejected {err}", err=True)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        self._file.write(f"{err}\n")

    def finish(self, summary: IngestSummary) -> None:
        if self.count > SHOWN_ERRORS:
            click.echo(
                f"... {self.count - SHOWN_ERRORS} more rejected rows; all {self.count} in {self.path}",
                err=True,
            )
        elif self.count:
            click.echo(f"rejected rows listed in {self.path}", err=True)

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


def _run(entry: Callable[..., Any]) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code = entry(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except TrackerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        os._exit(0)


def main() -> None:
    """Console-script entry point."""
    _run(cli)
