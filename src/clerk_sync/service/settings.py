"""Service-only configuration; Clerk's own variables stay in ``ClerkSettings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clerk_sync.settings import ClerkSettings

__all__ = ["DEFAULT_DATABASE_URL", "ServiceSettings"]

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./clerk_sync.db"


class ServiceSettings(BaseSettings):
    """``DATABASE_URL`` and the Clerk settings, read from the environment."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    clerk: ClerkSettings = Field(default_factory=ClerkSettings)
