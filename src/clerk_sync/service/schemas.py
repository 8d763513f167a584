"""The reference service's response bodies, as the OpenAPI document states them (and FastAPI checks them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

__all__ = ["ClaimsOut", "Health", "Readiness", "ReadinessChecks", "UserOut"]

_DATE_TIME: JsonDict = {"format": "date-time"}


class UserOut(BaseModel):
    """``GET /me``: the local row (the contract every reference app serves, ``tests/contract``); absent profile
    fields are null, never guessed."""

    id: int = Field(description="The local, stable primary key.")
    clerk_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    image_url: str | None
    public_metadata: dict[str, Any]
    # Strings, not datetimes: the body keeps ``isoformat()``'s exact text instead of pydantic's re-rendering.
    created_at: str = Field(json_schema_extra=_DATE_TIME)
    updated_at: str = Field(json_schema_extra=_DATE_TIME)


class ClaimsOut(BaseModel):
    """``GET /me/claims``: the verified identity, read from the token alone."""

    clerk_id: str
    session_id: str | None


class Health(BaseModel):
    """``GET /healthz``: the process answers."""

    status: Literal["ok"]


class ReadinessChecks(BaseModel):
    """Each part the service needs, by name."""

    signing_keys: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable", "not configured"]
    webhooks: Literal["ok", "not configured"] = Field(
        description="`not configured` while CLERK_WEBHOOK_SIGNING_SECRET is unset: every delivery would get a 503."
    )


class Readiness(BaseModel):
    """``GET /readyz``, 200 when every check is ``ok``, else 503 with the same body."""

    status: Literal["ok", "unavailable"]
    checks: ReadinessChecks
    last_webhook_at: str | None = Field(json_schema_extra=_DATE_TIME)
    last_webhook_age_s: float | None = Field(description="Seconds since the last webhook was applied.")
