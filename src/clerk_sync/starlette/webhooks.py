"""``webhook_endpoint``: ``POST /webhooks/clerk`` as a Starlette endpoint, raw body with the receiver's cap."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import problem_for
from clerk_sync.receiver import read_capped
from clerk_sync.starlette.backend import core_of

__all__ = ["webhook_endpoint"]


async def webhook_endpoint(request: Request) -> JSONResponse:
    """``Route("/webhooks/clerk", webhook_endpoint, methods=["POST"])``: 200 applied / duplicate / ignored;
    problem+json 400 (bad signature or body), 413 (too long), 503 (no secret, database down: Svix retries)."""
    core = core_of(request)
    try:
        core.webhooks.check_configured()
        limit = core.webhooks.max_body_bytes
        body = await read_capped(request.stream(), request.headers.get("content-length"), limit)
        result = await core.receive_webhook(body, request.headers)
    except ClerkSyncError as exc:
        found = problem_for(exc)
        return JSONResponse(
            found.body(), status_code=found.status, headers=dict(found.headers), media_type=found.content_type
        )
    return JSONResponse(result.as_json())
