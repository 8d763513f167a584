"""Service-only configuration; Clerk's own variables stay in ``ClerkSettings``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DEFAULT_DATABASE_URL", "ServiceSettings"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./clerk_sync.db"


class ServiceSettings(BaseSettings):
    """``DATABASE_URL`` and other service-only options; Clerk's variables are read by ``load_settings``."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
