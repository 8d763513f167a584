"""``POST /webhooks/clerk``: the core's webhook receiver behind a FastAPI route, documented in OpenAPI.

Status codes keep Svix honest: 2xx once an event is applied, a duplicate or an ignored type; 400 for a bad
signature or body (nothing written); 503 when no secret is configured or the database failed, so Svix retries
and nothing is lost. The body is read with a cap before any parsing, and verified as raw bytes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from clerk_sync.errors import (
    DatabaseUnavailableError,
    PayloadTooLargeError,
    WebhookError,
    WebhookNotConfiguredError,
)
from clerk_sync.fastapi.deps import RuntimeDep
from clerk_sync.fastapi.openapi import problem_responses
from clerk_sync.receiver import WebhookStatus, read_capped
from clerk_sync.webhooks import DEFAULT_MAX_BODY_BYTES

__all__ = ["ClerkEvent", "WebhookReceipt", "webhook_router"]


class WebhookReceipt(BaseModel):
    """The 2xx answer: what the event did (``ignored`` for types that do not touch users, ``duplicate`` for a
    Svix retry of an applied message)."""

    status: WebhookStatus
    id: str = Field(description="The Svix message id (`svix-id`).")
    type: str = Field(description="The event type, e.g. `user.updated`.")


class ClerkEvent(BaseModel):
    """A Clerk webhook event, for the OpenAPI document only: the route verifies the raw bytes' signature first
    and parses them itself, so nothing here validates a request."""

    model_config = ConfigDict(extra="allow", title="ClerkEvent")

    type: str = Field(min_length=1, description="`user.created`, `user.updated`, `user.deleted`; others are ignored.")
    data: dict[str, Any] = Field(description="A Clerk user object (for `user.deleted`: `id` and `deleted`).")
    object: Literal["event"] = "event"
    timestamp: int | None = Field(default=None, description="When Clerk created the event, Unix milliseconds.")
    instance_id: str | None = None
    event_attributes: dict[str, Any] | None = None


_SVIX_HEADERS = (
    ("svix-id", {"type": "string", "minLength": 1}, "Message id, the same on every retry (or `webhook-id`)."),
    (
        "svix-timestamp",
        {"type": "integer", "minimum": 0},
        "Unix seconds; refused beyond 5 minutes either way (or `webhook-timestamp`).",
    ),
    (
        "svix-signature",
        {"type": "string", "minLength": 1},
        "Space-separated `v1,<base64 HMAC-SHA256>` entries; one must match (or `webhook-signature`).",
    ),
)

#: The body and headers the route reads itself (``Request.stream``), documented without FastAPI parsing them.
_OPENAPI_EXTRA: dict[str, Any] = {
    "parameters": [
        {"name": name, "in": "header", "required": True, "schema": schema, "description": description}
        for name, schema, description in _SVIX_HEADERS
    ],
    "requestBody": {
        "required": True,
        "description": "The event exactly as Clerk sent it: the signature covers these bytes.",
        "content": {"application/json": {"schema": ClerkEvent.model_json_schema()}},
    },
}


def webhook_router(path: str = "/webhooks/clerk", *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> APIRouter:
    """A router to mount in the app: ``app.include_router(webhook_router())``."""
    router = APIRouter(tags=["webhooks"])

    @router.post(
        path,
        summary="Receive a Clerk webhook (Svix-signed)",
        description="2xx once applied, a duplicate or ignored; 400 for a bad signature or body and 413 for an "
        "oversized one (nothing written); 503 when it could not be applied, so Svix retries.",
        response_model=WebhookReceipt,
        responses=problem_responses(
            WebhookError, PayloadTooLargeError, WebhookNotConfiguredError, DatabaseUnavailableError
        ),
        openapi_extra=_OPENAPI_EXTRA,
    )
    async def receive_clerk_webhook(request: Request, runtime: RuntimeDep) -> dict[str, str]:
        runtime.webhooks.check_configured()
        limit = min(max_body_bytes, runtime.webhooks.max_body_bytes)
        result = await runtime.receive_webhook(
            await read_capped(request.stream(), request.headers.get("content-length"), limit), request.headers
        )
        return result.as_json()

    return router
