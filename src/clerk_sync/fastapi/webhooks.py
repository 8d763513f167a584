"""``POST /webhooks/clerk``: Svix-verified Clerk events applied through the same sync engine as requests.

Status codes keep Svix honest: 2xx once an event is applied, a duplicate or an ignored type; 400 for a bad
signature or body (nothing written); 503 when no secret is configured or the database failed, so Svix retries
and nothing is lost. The body is read with a cap before any parsing, and verified as raw bytes.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from clerk_sync.errors import ClerkSyncError, PayloadTooLargeError, WebhookNotConfiguredError
from clerk_sync.fastapi.deps import RuntimeDep
from clerk_sync.fastapi.runtime import ClerkRuntime
from clerk_sync.fastapi.users import require_database
from clerk_sync.metrics import WEBHOOKS
from clerk_sync.webhooks import DEFAULT_MAX_BODY_BYTES, IgnoredEvent, to_user_change, verify_webhook

__all__ = ["webhook_router"]

logger = logging.getLogger("clerk_sync.webhooks")


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
    database = require_database(runtime)
    async with database.sessionmaker() as session:
        outcome = await database.users.apply_webhook(session, svix_id=event.id, event_type=event.type, change=change)
    logger.info("webhook %s %s for %s -> %s", event.id, event.type, change.clerk_id, outcome)
    return {"status": outcome, "id": event.id, "type": event.type}


def webhook_router(path: str = "/webhooks/clerk", *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> APIRouter:
    """A router to mount in the app: ``app.include_router(webhook_router())``."""
    router = APIRouter(tags=["webhooks"])

    @router.post(path, summary="Receive a Clerk webhook (Svix-signed)")
    async def receive_clerk_webhook(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
        try:
            result = await _receive(request, runtime, max_body_bytes)
        except ClerkSyncError as exc:
            WEBHOOKS.labels(exc.code).inc()
            raise
        WEBHOOKS.labels(result["status"]).inc()
        return result

    return router
