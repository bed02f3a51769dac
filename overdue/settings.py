"""Process settings from the environment (prefix ``OVERDUE_``, nested with ``__``).

Example: ``OVERDUE_TEMPORAL__ADDRESS=temporal:7233``, ``OVERDUE_DATABASE__URL=postgresql+asyncpg://...``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from overdue.clients.contact_centre import ContactCentreSettings
from overdue.clients.email import SmtpSettings
from overdue.clients.legal import LegalSettings
from overdue.codec import CodecSettings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / ".data"


class DatabaseSettings(BaseModel):
    url: str = f"sqlite+aiosqlite:///{DATA_DIR / 'overdue.db'}"
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)


class TemporalSettings(BaseModel):
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "overdue-cases"
    ui_url: str = "http://localhost:8233"
    max_cached_workflows: int = Field(default=1000, ge=0)
    max_concurrent_activities: int = Field(default=50, ge=1)
    share_workflow_modules: bool = True
    """One copy of the workflow modules for every cached workflow (see
    workflows/runner.py); the tests run with False, under the full sandbox."""


class SmsGatewaySettings(BaseModel):
    url: str = "http://127.0.0.1:8025"
    api_key: SecretStr = SecretStr("sandbox-sms-key")
    sender_id: str = "CJBANK"
    timeout_seconds: float = Field(default=10.0, gt=0)


class IntakeSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8000"
    """Where the SMS gateway and the contact centre post their callbacks (webhooks)."""
    hmac_secret: SecretStr = SecretStr("dev-core-banking-secret")
    """Shared with core banking: every event request is HMAC-signed with it."""
    replay_window_seconds: int = Field(default=300, ge=1, le=3600)


class MetricsSettings(BaseModel):
    bind_address: str | None = "127.0.0.1:9464"
    """The worker's Prometheus endpoint (SDK metrics and business counters); None: off."""
    worker_health_address: str | None = "127.0.0.1:8002"
    """The worker's /healthz and /readyz; None: off."""


class ContactSettings(BaseModel):
    recipient_key_secret: SecretStr = SecretStr("overdue-dev-recipient-key")
    """Keys the hash that lets contact caps count per number without storing the number
    next to the history; set a real secret in production."""


class PolicySettings(BaseModel):
    path: Path = PROJECT_ROOT / "policy" / "default.toml"
    calendar_overrides: Path = PROJECT_ROOT / "policy" / "calendar-overrides.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OVERDUE_", env_nested_delimiter="__",
                                      extra="ignore")

    database: DatabaseSettings = DatabaseSettings()
    temporal: TemporalSettings = TemporalSettings()
    sms: SmsGatewaySettings = SmsGatewaySettings()
    smtp: SmtpSettings = SmtpSettings()
    contact_centre: ContactCentreSettings = ContactCentreSettings()
    legal: LegalSettings = LegalSettings()
    contacts: ContactSettings = ContactSettings()
    metrics: MetricsSettings = MetricsSettings()
    codec: CodecSettings = CodecSettings()
    codec_server_port: int = Field(default=8888, ge=1, le=65535)
    intake: IntakeSettings = IntakeSettings()
    policy: PolicySettings = PolicySettings()
    log_format: str = Field(default="auto", pattern="^(auto|json|console)$")
    log_level: str = "INFO"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
