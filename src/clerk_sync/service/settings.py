"""Service-only configuration; Clerk's own variables stay in ``ClerkSettings``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from clerk_sync.settings import DEFAULT_DATABASE_URL

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    """``DATABASE_URL`` and other service-only options; Clerk's variables are read by ``load_settings``."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
