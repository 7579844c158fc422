"""tracker: score the hostility of armed groups' rhetoric and the news about them, and follow its trends.

The public API, for notebooks and scripts:

    from tracker import load_settings, open_store, ingest_paths
"""

from tracker.config import Settings, load_settings
from tracker.errors import (
    ConfigError,
    NotifyError,
    ScoringError,
    SourceError,
    StorageError,
    TrackerError,
)
from tracker.models import Document, IngestSummary, RowError, Run, Score
from tracker.pipeline import ingest_paths, open_store
from tracker.storage import Store

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Document",
    "IngestSummary",
    "NotifyError",
    "RowError",
    "Run",
    "Score",
    "ScoringError",
    "Settings",
    "SourceError",
    "StorageError",
    "Store",
    "TrackerError",
    "__version__",
    "ingest_paths",
    "load_settings",
    "open_store",
]
