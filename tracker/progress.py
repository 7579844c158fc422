"""Progress on long work: a bar on a terminal, plain log lines otherwise (cron, CI, pipes)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("tracker.progress")


class Progress(Protocol):
    def update(self, n: int = 1) -> None: ...
    def close(self) -> None: ...


class NullProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


ProgressFactory = Callable[[str, int | None, str], Progress]
"""Makes a progress reporter from (description, total or None, unit)."""


def no_progress(desc: str, total: int | None, unit: str) -> Progress:
    """The default for library calls: report nothing (the CLI passes make_progress)."""
    return NullProgress()


class LogProgress:
    """Logs a line at most every `every` seconds and at the end."""

    def __init__(self, desc: str, total: int | None, unit: str, every: float = 10.0) -> None:
        self.desc, self.total, self.unit, self.every = desc, total, unit, every
        self.done = 0
        self._start = self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._log()

    def _log(self) -> None:
        rate = self.done / max(time.monotonic() - self._start, 1e-9)
        if self.unit == "B":
            done, speed, unit = f"{self.done / 1e6:,.1f}", f"{rate / 1e6:,.1f}", "MB"
            total = f"{self.total / 1e6:,.1f}" if self.total else ""
        else:
            done, speed, unit = f"{self.done:,}", f"{rate:,.0f}", self.unit
            total = f"{self.total:,}" if self.total else ""
        if self.total:
            pct = 100.0 * self.done / self.total
            log.info("%s: %s/%s %s (%.0f%%, %s %s/s)", self.desc, done, total, unit, pct, speed, unit)
        else:
            log.info("%s: %s %s (%s %s/s)", self.desc, done, unit, speed, unit)

    def close(self) -> None:
        self._log()


def make_progress(desc: str, total: int | None = None, unit: str = "it") -> Progress:
    """A tqdm bar when stderr is a terminal, else periodic log lines."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        scale = unit == "B"
        return tqdm(
            total=total,
            desc=desc,
            unit=unit,
            unit_scale=scale,
            unit_divisor=1024 if scale else 1000,
            leave=False,
        )
    return LogProgress(desc, total, unit)
