"""How command results are shown: summaries, run cycles, and rejected rows (first ones on stderr, all in a file)."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

import click

from tracker.config import Settings
from tracker.models import IngestSummary, RowError
from tracker.pipeline.run import CycleResult
from tracker.pipeline.score import ScoreSummary

SHOWN_ERRORS = 20


def print_cycle(result: CycleResult) -> None:
    for s in result.sources:
        extra = f" ({s.error})" if s.error else ""
        click.echo(
            f"  {s.name:<24} {s.kind:<9} {s.status:<13} read {s.read:,}, added {s.added:,}, "
            f"rejected {s.rejected:,}{extra}"
        )
    failed = result.alerts.get("failed", 0)
    click.echo(
        f"run {result.run_id}: added {result.added:,} documents, scored {result.scored:,}, alerts opened "
        f"{result.alerts.get('opened', 0)}, sent {result.alerts.get('sent', 0)}"
        + (f", failed {failed} (kept for retry)" if failed else "")
        + (f"; report {result.report}" if result.report else "")
    )
    for failure in result.failures:
        click.echo(f"  failed: {failure}", err=True)


def print_score_summary(s: ScoreSummary) -> None:
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


def print_ingest_summary(summary: IngestSummary, total: int) -> None:
    click.echo(
        f"ingest: read {summary.read:,} rows from {summary.files} file(s): added {summary.added:,}, "
        f"duplicates {summary.duplicates:,}, rejected {summary.rejected:,} (store now holds {total:,} documents)"
    )
    if summary.copies:
        click.echo(f"stories: {summary.copies:,} of the added documents repeat an earlier story (counted once)")


class RejectLog:
    """Shows the first rejected rows on stderr and writes all of them to a file in the tracker home."""

    def __init__(self, settings: Settings, now: datetime, kind: str = "ingest") -> None:
        self.path = settings.home / "logs" / f"{kind}-{now:%Y%m%dT%H%M%S}-rejected.txt"
        self.count = 0
        self._file: TextIO | None = None

    def __enter__(self) -> RejectLog:
        return self

    def add(self, err: RowError) -> None:
        self.count += 1
        if self.count <= SHOWN_ERRORS:
            click.echo(f"rejected {err}", err=True)
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        self._file.write(f"{err}\n")

    def finish(self) -> None:
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
