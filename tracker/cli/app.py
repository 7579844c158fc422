"""The `tracker` command group and what every command shares: the config read once, the clock, dates."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import click

from tracker.config import Settings, load_settings


def utc_now() -> datetime:
    """The clock: only the shells read it; everything below is given `now` (and this, to time a run's end)."""
    return datetime.now(UTC)


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


def date_option(name: str, help_text: str) -> Callable[[Any], Any]:
    return click.option(name, type=click.DateTime(formats=["%Y-%m-%d"]), default=None, help=help_text)


def day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
