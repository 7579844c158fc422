"""The `tracker` command: each command parses options, calls one stage function, formats the result.

Commands live by group in `data` (config, ingest, score, train, eval), `trends` (trends, chart), `alerts`
(alerts, backtest) and `run` (report, run, schedule, status, demo); `app` holds the group and the clock.
Errors the user can fix are one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from tracker.cli import alerts, data, export, run, trends  # noqa: F401 - importing registers the commands
from tracker.cli.app import cli
from tracker.errors import TrackerError

QUIET_LOGGERS = ("httpx", "httpcore", "fontTools", "weasyprint", "urllib3", "matplotlib", "PIL")


def configure_logging() -> None:
    """Our INFO lines on stderr; third-party loggers only from WARNING: httpx logs every request's full URL at
    INFO (a webhook URL is a secret) and fontTools prints pages of subsetting lines."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _run(entry: Callable[..., Any]) -> None:
    configure_logging()
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


__all__ = ["cli", "main"]
