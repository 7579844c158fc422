"""Seeded synthetic score series with known answers: `(aggregates, true_change_points)`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd

START = date(2022, 1, 1)


def piecewise_levels(
    levels: Sequence[float], lengths: Sequence[int], *, seed: int, volume: float = 6.0, start: date = START
) -> tuple[pd.DataFrame, list[date]]:
    """Daily aggregates of documents whose level hovers around a step function of `levels` (0-4).

    Each day has Poisson(volume) documents; a document's level is the segment's level plus noise of about one
    level, rounded and clipped; its hostility is level / 4 plus a little noise. Returns the aggregates (as
    `Store.daily_aggregates` gives them) and the first day of every segment after the first."""
    rng = np.random.default_rng(seed)
    rows = []
    day = start
    true_cps = []
    for i, (level, length) in enumerate(zip(levels, lengths, strict=True)):
        if i:
            true_cps.append(day)
        for _ in range(length):
            n = int(rng.poisson(volume))
            doc_levels = np.clip(np.rint(level + rng.normal(0, 0.9, n)), 0, 4)
            hostility = np.clip(doc_levels / 4 + rng.normal(0, 0.05, n), 0, 1)
            rows.append(
                (day, "all", n, 0, float(hostility.sum()), int((doc_levels >= 3).sum()), int((doc_levels == 4).sum()))
            )
            day += timedelta(days=1)
    frame = pd.DataFrame(rows, columns=["day", "key", "documents", "unscored", "hostility_sum", "hostile", "violent"])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame, true_cps
