"""Domain errors, translated once at the edge (the CLI prints one line and exits non-zero).

TrackerError
├── ConfigError     a config file, key or value is wrong; the message names the key
├── SourceError     an input file or feed cannot be read at all
├── ScoringError    a model cannot be loaded or run
├── StorageError    the database cannot be opened, migrated or written
└── NotifyError     an alert could not be delivered
"""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error the tracker raises on purpose; its message is meant for the user."""


class ConfigError(TrackerError):
    """The configuration is missing, malformed or has a bad value."""


class SourceError(TrackerError):
    """An input (file, folder, feed, export) cannot be read at all."""


class ScoringError(TrackerError):
    """A scoring model cannot be loaded or run."""


class StorageError(TrackerError):
    """The store cannot be opened, migrated, read or written."""


class NotifyError(TrackerError):
    """A notification could not be delivered."""
