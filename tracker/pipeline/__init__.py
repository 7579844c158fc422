"""Use-cases, one module per stage, named like its command. Each loads its inputs through the adapters, calls
the pure core, saves, and takes `now` (nothing here reads the clock). A stage may import the stages above it
in this list, never one below:

    common    open the store; record a run
    ingest    files, feeds and exports -> documents (one row loop for every input)
    score     models from config; languages; scores
    train     train the default head; eval on a labeled file
    trends    series, change points, regimes; charts
    alerts    spike alerts, delivery, backtest
    report    the weekly report
    run       one unattended cycle: fetch, score, alert, report
    status    last runs, next jobs, totals
    demo      the main job on the bundled demo data

The names below are re-exported for notebooks and scripts.
"""

from tracker.pipeline.common import open_store
from tracker.pipeline.ingest import ingest_paths, row_options
from tracker.pipeline.trends import compute_trends

__all__ = ["compute_trends", "ingest_paths", "open_store", "row_options"]
