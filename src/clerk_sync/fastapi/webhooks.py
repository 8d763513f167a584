"""``POST /webhooks/clerk``: Svix-verified Clerk events applied through the same sync engine as requests.

Status codes keep Svix honest: 2xx once an event is applied, a duplicate or an ignored type; 400 for a bad
signature or body (nothing written); 503 when no secret is configured or the database failed, so Svix retries
and nothing is lost. The body is read with a cap before any parsing, and verified as raw bytes.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from clerk_sync.db import WebhookOutcome
from clerk_sync.errors import (
    ClerkSyncError,
    DatabaseUnavailableError,
    PayloadTooLargeError,
    WebhookError,
    WebhookNotConfiguredError,
)
from clerk_sync.fastapi.deps import RuntimeDep
from clerk_sync.fastapi.openapi import problem_responses
from clerk_sync.fastapi.runtime import ClerkRuntime
from clerk_sync.fastapi.users import require_database
from clerk_sync.metrics import WEBHOOKS
from clerk_sync.webhooks import DEFAULT_MAX_BODY_BYTES, IgnoredEvent, to_user_change, verify_webhook

__all__ = ["ClerkEvent", "WebhookReceipt", "webhook_router"]

logger = logging.getLogger("clerk_sync.webhooks")


class WebhookReceipt(BaseModel):
    """The 2xx answer: what the event did (``ignored`` for types that do not touch users, ``duplicate`` for a
    Svix retry of an applied message)."""

    status: WebhookOutcome | Literal["ignored"]
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


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"Webhook bodies are limited to {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"Webhook bodies are limited to {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _receive(request: Request, runtime: ClerkRuntime, max_body_bytes: int) -> dict[str, Any]:
    secret = runtime.settings.webhook_signing_secret
    if secret is None:
        raise WebhookNotConfiguredError("CLERK_WEBHOOK_SIGNING_SECRET is not set; refusing unsigned events.")
    body = await _read_body(request, max_body_bytes)
    event = verify_webhook(body, request.headers, secret.get_secret_value(), max_body_bytes=max_body_bytes)
    change = to_user_change(event, include_private_metadata=runtime.settings.include_private_metadata)
    if isinstance(change, IgnoredEvent):
        logger.info("webhook %s ignored (type %s)", event.id, event.type)
        return {"status": "ignored", "id": event.id, "type": event.type}
    outcome = await require_database(runtime).store.apply_webhook(event.id, event.type, change)
    logger.info("webhook %s %s for %s -> %s", event.id, event.type, change.clerk_id, outcome)
    return {"status": outcome, "id": event.id, "type": event.type}


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
    async def receive_clerk_webhook(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
        try:
            result = await _receive(request, runtime, max_body_bytes)
        except ClerkSyncError as exc:
            WEBHOOKS.labels(exc.code).inc()
            raise
        WEBHOOKS.labels(result["status"]).inc()
        return result

    return router
