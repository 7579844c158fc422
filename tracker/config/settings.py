"""The settings object: every section, the secrets read at load, and the paths derived from the home."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr

from tracker.config.alerts import (
    AlertsSettings,
)
from tracker.config.base import Frozen
from tracker.config.sections import (
    IngestSettings,
    ReportSettings,
    ScoringSettings,
    StoreSettings,
    StoriesSettings,
    TrendsSettings,
)
from tracker.config.sources import (
    ScheduleSettings,
    SourceSettings,
)
from tracker.errors import ConfigError
from tracker.urls import mask_url, with_password

DEFAULT_HOME = "~/.tracker"


class Secrets(Frozen):
    """Values of the environment variables the config names, read once at load (None: the variable is unset)."""

    values: dict[str, SecretStr] = Field(default_factory=dict)

    def get(self, name: str | None) -> str | None:
        if not name or name not in self.values:
            return None
        return self.values[name].get_secret_value()

    def is_set(self, name: str) -> bool:
        return name in self.values


class Settings(Frozen):
    """Everything the tracker reads from config.yaml, validated and resolved."""

    home: Path = Path(DEFAULT_HOME)
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    scoring: ScoringSettings = ScoringSettings()
    trends: TrendsSettings = TrendsSettings()
    stories: StoriesSettings = StoriesSettings()
    alerts: AlertsSettings = AlertsSettings()
    report: ReportSettings = ReportSettings()
    sources: tuple[SourceSettings, ...] = ()
    schedule: ScheduleSettings = ScheduleSettings()
    events_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Not from the file: where it came from, for messages, and the secrets read at load.
    config_path: Path | None = Field(default=None, exclude=True)
    home_from: str = Field(default="default", exclude=True)
    secrets: Secrets = Field(default_factory=Secrets, exclude=True)

    def secret_names(self) -> list[str]:
        """The environment variables this config names for its secrets."""
        names = [
            self.store.password_env,
            self.alerts.email.username_env,
            self.alerts.email.password_env,
            self.alerts.webhook.url_env,
        ]
        return [n for n in names if n]

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL with the secret filled in (never print this)."""
        if self.store.url is None:
            return f"sqlite:///{self.home / 'tracker.db'}"
        url = self.store.url
        if self.store.password_env:
            password = self.secrets.get(self.store.password_env)
            if password is None:
                raise ConfigError(
                    f"store.password_env names ${self.store.password_env}, which is not set; "
                    "export it or remove store.password_env"
                )
            url = with_password(url, password)
        return url

    @property
    def store_label(self) -> str:
        """Where the store is, safe to print."""
        return str(self.home / "tracker.db") if self.store.url is None else mask_url(self.store.url)

    @property
    def outputs_dir(self) -> Path:
        return self.home / "outputs"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    def effective(self) -> dict[str, Any]:
        """The resolved settings as plain data, secrets masked: what `tracker config check` prints."""
        data = self.model_dump(mode="json")
        data["home"] = f"{self.home}  (from {self.home_from})"
        data["store"]["url"] = mask_url(self.store.url) if self.store.url else f"sqlite:///{self.home / 'tracker.db'}"

        def secret(name: str | None) -> str | None:
            if not name:
                return name
            return f"{name} ({'set' if self.secrets.is_set(name) else 'NOT SET'}, value hidden)"

        data["store"]["password_env"] = secret(self.store.password_env)
        data["alerts"]["email"]["username_env"] = secret(self.alerts.email.username_env)
        data["alerts"]["email"]["password_env"] = secret(self.alerts.email.password_env)
        data["alerts"]["webhook"]["url_env"] = secret(self.alerts.webhook.url_env)
        return data
