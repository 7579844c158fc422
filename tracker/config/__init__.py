"""The only reader of config.yaml: returns frozen, validated settings; every error names the key.

Resolution order: the file is `--config PATH`, else `$TRACKER_CONFIG`, else `./config.yaml` when present,
else built-in defaults. The tracker home is `$TRACKER_HOME` when set, else the config's `home` (relative
paths are taken from the config file's folder). Secrets never live in the file: it names the environment
variables that hold them, and they are read once, at load, into `Settings.secrets`.

The sections live in `sections` (store, ingest, scoring, trends, report), `alerts` and `sources` (sources and
the schedule), `settings` (the whole, with its secrets); loading and error messages in `loading`.
"""

from __future__ import annotations

from tracker.config.alerts import (
    AlertRuleSettings,
    AlertsSettings,
    EmailSettings,
    FileChannelSettings,
    WebhookSettings,
)
from tracker.config.loading import find_config, load_settings
from tracker.config.sections import (
    DOCUMENT_FIELDS,
    DetectorSettings,
    IngestSettings,
    ModelSettings,
    ReportSettings,
    ScoringSettings,
    StoreSettings,
    StoriesSettings,
    TrendsSettings,
)
from tracker.config.settings import DEFAULT_HOME, Secrets, Settings
from tracker.config.sources import (
    FilesSource,
    JobSettings,
    RssSource,
    ScheduleSettings,
    SourceSettings,
    TelegramSource,
)
from tracker.urls import mask_url

__all__ = [
    "DEFAULT_HOME",
    "DOCUMENT_FIELDS",
    "AlertRuleSettings",
    "AlertsSettings",
    "DetectorSettings",
    "EmailSettings",
    "FileChannelSettings",
    "FilesSource",
    "IngestSettings",
    "JobSettings",
    "ModelSettings",
    "ReportSettings",
    "RssSource",
    "ScheduleSettings",
    "ScoringSettings",
    "Secrets",
    "Settings",
    "SourceSettings",
    "StoreSettings",
    "StoriesSettings",
    "TelegramSource",
    "TrendsSettings",
    "WebhookSettings",
    "find_config",
    "load_settings",
    "mask_url",
]
