"""Clerk configuration from the environment, under Clerk's own variable names.

Only the service and the FastAPI lifespan read settings; core classes receive plain arguments. The validators
reject what cannot work at start-up, with one line naming the variable, instead of failing on the first request.
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from clerk_sync.errors import ConfigurationError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ClerkSettings",
    "KeySourceKind",
    "frontend_api_from_publishable_key",
    "load_settings",
]

#: An SQLite file in the working directory: every reference app runs with no database server (``DATABASE_URL``).
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./clerk_sync.db"

_WEBHOOK_SECRET_PREFIX = "whsec_"
_WEBHOOK_KEY_BYTES = (24, 64)


class KeySourceKind(StrEnum):
    """Where signing keys come from, in the order the README gives: the first configured one alone."""

    PEM = "pem"
    JWKS_URL = "jwks_url"
    BACKEND_API = "backend_api"
    FRONTEND_API = "frontend_api"
    NONE = "none"


def frontend_api_from_publishable_key(key: str) -> str:
    """``pk_(test|live)_`` + base64(``<frontend api host>$``) -> the host (Clerk ``parsePublishableKey``)."""
    prefix, _, encoded = key.partition("_")
    env, _, encoded = encoded.partition("_")
    if prefix != "pk" or env not in ("test", "live") or not encoded:
        raise ConfigurationError("CLERK_PUBLISHABLE_KEY must look like pk_test_... or pk_live_...")
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ConfigurationError("CLERK_PUBLISHABLE_KEY is not a Clerk publishable key") from exc
    if not decoded.endswith("$") or len(decoded) < 2 or "/" in decoded:
        raise ConfigurationError("CLERK_PUBLISHABLE_KEY does not encode a Frontend API host")
    return decoded[:-1]


class ClerkSettings(BaseSettings):
    """Everything clerk-sync reads from ``CLERK_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="CLERK_", extra="ignore", frozen=True)

    jwt_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    jwks_url: str | None = None
    publishable_key: str | None = None
    api_url: str = "https://api.clerk.com"
    issuer: str | None = None
    authorized_parties: Annotated[tuple[str, ...], NoDecode] = ()
    webhook_signing_secret: SecretStr | None = None
    clock_skew_ms: int = Field(default=5000, ge=0, le=600_000)
    allow_pending_sessions: bool = False
    jwks_max_age_s: float = Field(default=300.0, gt=0)
    jwks_cooldown_s: float = Field(default=30.0, ge=0)
    http_timeout_s: float = Field(default=5.0, gt=0)
    include_private_metadata: bool = False
    token_cache_size: int = Field(default=4096, ge=0, le=1_000_000)

    @field_validator("authorized_parties", mode="before")
    @classmethod
    def _split_parties(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("jwt_key", "secret_key", "webhook_signing_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("jwks_url", "publishable_key", "issuer", mode="before")
    @classmethod
    def _blank_str_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("secret_key")
    @classmethod
    def _secret_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("sk_"):
            raise ValueError("must start with sk_")
        return value

    @field_validator("webhook_signing_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        """A secret that cannot verify anything would turn every delivery into a 400 that Svix retries for days:
        refuse it at start. Standard Webhooks: ``whsec_`` + base64 of 24-64 random bytes (padding optional)."""
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        encoded = raw.removeprefix(_WEBHOOK_SECRET_PREFIX)
        if encoded == raw:
            raise ValueError("must start with whsec_ (copy the signing secret of the Clerk webhook endpoint)")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            raise ValueError("must be whsec_ followed by base64") from None
        if not _WEBHOOK_KEY_BYTES[0] <= len(key) <= _WEBHOOK_KEY_BYTES[1]:
            raise ValueError(f"must encode 24 to 64 bytes after whsec_, not {len(key)}")
        return SecretStr(raw)

    @field_validator("publishable_key")
    @classmethod
    def _publishable_key_shape(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                frontend_api_from_publishable_key(value)
            except ConfigurationError as exc:
                raise ValueError(exc.message) from exc
        return value

    @property
    def key_source(self) -> KeySourceKind:
        """The one key source in force."""
        if self.jwt_key is not None:
            return KeySourceKind.PEM
        if self.jwks_url:
            return KeySourceKind.JWKS_URL
        if self.secret_key is not None:
            return KeySourceKind.BACKEND_API
        if self.publishable_key:
            return KeySourceKind.FRONTEND_API
        return KeySourceKind.NONE

    @property
    def frontend_api(self) -> str | None:
        """The Frontend API host the publishable key encodes, if one is set."""
        return frontend_api_from_publishable_key(self.publishable_key) if self.publishable_key else None

    @property
    def expected_issuer(self) -> str | None:
        """``CLERK_ISSUER`` when set, else ``https://<frontend api>`` derived from the publishable key."""
        if self.issuer:
            return self.issuer
        host = self.frontend_api
        return f"https://{host}" if host else None

    @property
    def resolved_jwks_url(self) -> str | None:
        """The JWKS endpoint for the key source in force (None for a PEM key)."""
        match self.key_source:
            case KeySourceKind.JWKS_URL:
                return self.jwks_url
            case KeySourceKind.BACKEND_API:
                return f"{self.api_url.rstrip('/')}/v1/jwks"
            case KeySourceKind.FRONTEND_API:
                return f"https://{self.frontend_api}/.well-known/jwks.json"
            case _:
                return None


def load_settings(**overrides: object) -> ClerkSettings:
    """Read the environment, turning pydantic's multi-line report into one line per bad variable."""
    try:
        return ClerkSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "CLERK_" + str(first["loc"][0]).upper() if first["loc"] else "CLERK_*"
        raise ConfigurationError(f"{name}: {first['msg']}") from exc
