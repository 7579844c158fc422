"""Commands on alerts: alerts (list), alerts update, alerts silence, backtest."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import click

from tracker.cli.app import App, cli, date_option, day, pass_app, utc_now
from tracker.formatting import pct
from tracker.pipeline.alerts import backtest as run_backtest
from tracker.pipeline.alerts import update_alerts
from tracker.pipeline.common import open_store
from tracker.regime_alerts import RULE as REGIME_RULE


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
    today = utc_now().date()
    with open_store(app.settings) as store:
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
        if a.rule == REGIME_RULE:
            state = f"until {a.resolved_at}" if a.resolved_at else "current"
            sent = "" if a.last_notified else " (first seen; not announced)"
            click.echo(
                f"{a.opened_at}  {state:<20} {a.severity:<10} regime in {a.scope}: mean hostility {a.peak_share:.2f}"
                f" (before {a.baseline_share:.2f}){sent}"
            )
            continue
        state = f"resolved {a.resolved_at}" if a.resolved_at else "OPEN"
        click.echo(
            f"{a.opened_at}  {state:<20} {a.severity:<7} {a.rule:<14} {a.scope}  peak {pct(a.peak_share)} "
            f"vs baseline {pct(a.baseline_share)}"
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
    with open_store(app.settings) as store:
        s = update_alerts(app.settings, store, now=utc_now())
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
    with open_store(app.settings) as store:
        store.add_silence(scope, until.date(), reason, utc_now())
    click.echo(f"silenced {scope} until {until.date()}: {reason}")


@cli.command()
@date_option("--from", "First day replayed (YYYY-MM-DD).")
@date_option("--to", "Last day replayed, inclusive.")
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as JSON.")
@pass_app
def backtest(app: App, as_json: bool, **dates: datetime | None) -> None:
    """Replay the alert rules day by day over stored scores, as if the job had run every day; sends nothing."""
    since, until = day(dates.get("from")), day(dates.get("to"))
    if since is None or until is None:
        raise click.UsageError("give both --from and --to")
    with open_store(app.settings) as store:
        found = run_backtest(app.settings, store, since=since, until=until)
    if as_json:
        click.echo(json.dumps(found, indent=1))
        return
    click.echo(f"{len(found)} alert(s) would have opened between {since} and {until}:")
    for a in found:
        if a["rule"] == REGIME_RULE:
            before = f", the regime before it {a['previous_mean']:.2f}" if a["previous_mean"] is not None else ""
            click.echo(
                f"  {a['opened_at']}  regime change in {a['scope']}: {a['from']} -> {a['severity']}; the new regime "
                f"since {a['change_day']} (mean hostility {a['mean_hostility']:.2f}{before}; z {a['z']})"
            )
            continue
        end = a["resolved_at"] or "still open"
        click.echo(
            f"  {a['opened_at']} .. {end:<10}  {a['severity']:<7} {a['rule']:<14} {a['scope']}  "
            f"peak {pct(a['peak_share'])} vs baseline {pct(a['baseline_share'])}"
        )
