"""Service-only configuration; Clerk's own variables stay in ``ClerkSettings``."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clerk_sync.db.webhook_log import DEFAULT_WEBHOOK_RETENTION, SVIX_RETRY_WINDOW
from clerk_sync.settings import DEFAULT_DATABASE_URL

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    """``DATABASE_URL`` and other service-only options; Clerk's variables are read by ``load_settings``.

    ``CLERK_SYNC_WEBHOOK_RETENTION`` (seconds or an ISO 8601 duration) is how long an applied svix-id stays in the
    ledger; shorter than Svix's retry window is refused, since a redelivery of a forgotten id is applied twice.
    ``CLERK_SYNC_WEBHOOK_RETENTION_INTERVAL_S`` turns on the service's periodic prune (off when unset or 0).
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = DEFAULT_DATABASE_URL
    webhook_retention: timedelta = Field(
        default=DEFAULT_WEBHOOK_RETENTION, validation_alias="CLERK_SYNC_WEBHOOK_RETENTION"
    )
    webhook_retention_interval_s: float = Field(
        default=0.0, ge=0, validation_alias="CLERK_SYNC_WEBHOOK_RETENTION_INTERVAL_S"
    )

    @field_validator("webhook_retention")
    @classmethod
    def _beyond_svix_retries(cls, value: timedelta) -> timedelta:
        if value < SVIX_RETRY_WINDOW:
            raise ValueError(f"must be at least Svix's retry window ({SVIX_RETRY_WINDOW})")
        return value
