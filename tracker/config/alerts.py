"""Settings for spike alerts: rules, scopes and delivery channels (secrets are named, never written here)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from tracker.config.base import Frozen


class AlertRuleSettings(Frozen):
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


class EmailSettings(Frozen):
    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str = "tracker@localhost"
    recipients: tuple[str, ...] = ()
    username_env: str | None = None
    password_env: str | None = None
    timeout: float = Field(30.0, gt=0)
    attach_chart: bool = True


class WebhookSettings(Frozen):
    url_env: str = "TRACKER_WEBHOOK_URL"
    timeout: float = Field(10.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    backoff: float = Field(1.0, ge=0)


class FileChannelSettings(Frozen):
    path: Path = Path("alerts.jsonl")


DEFAULT_RULES = (
    AlertRuleSettings(name="hostile_share", measure="hostile"),
    AlertRuleSettings(name="violent_share", measure="violent"),
)


class RegimeChangeSettings(Frozen):
    """Regime-change alerts: a calm turning into an escalation (or back) is announced once, when the new regime
    has held `hold_days`. The search sees the last `lookback_days` of each scope."""

    enabled: bool = True
    hold_days: int = Field(14, ge=1, le=365)
    lookback_days: int = Field(180, ge=28, le=3650)
    confirm_days: int = Field(3, ge=1, le=60)
    margin: float = Field(0.5, ge=0, le=1)  # hysteresis in long-run spreads (see tracker.regime_alerts)


class AlertsSettings(Frozen):
    """Spike alerts: rules, scopes, and delivery channels."""

    by: tuple[Literal["actor", "source", "language", "kind", "target"], ...] = ()
    rules: tuple[AlertRuleSettings, ...] = DEFAULT_RULES
    channels: tuple[Literal["file", "email", "webhook"], ...] = ("file",)
    initial_lookback_days: int = Field(30, ge=1, le=3650)
    regime_changes: RegimeChangeSettings = RegimeChangeSettings()
    file: FileChannelSettings = FileChannelSettings()
    email: EmailSettings = EmailSettings()
    webhook: WebhookSettings = WebhookSettings()
