"""``POST /webhooks/clerk``, ``GET /healthz`` and ``GET /readyz`` as Litestar route handlers.

The webhook body is read raw with the receiver's cap (a too-long ``Content-Length`` is refused before a byte is
read) and verified as bytes; the answer is the core's ``WebhookResult``. Readiness is the core's report.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler

from clerk_sync.litestar.runtime import core_of
from clerk_sync.receiver import read_capped

__all__ = ["health_handler", "readiness_handler", "webhook_handler"]


def webhook_handler(path: str = "/webhooks/clerk") -> HTTPRouteHandler:
    """The Svix-verified webhook route: 200 applied / duplicate / ignored, 400, 413, 503 (Svix retries)."""

    @post(path, status_code=200, tags=["webhooks"], summary="Receive a Clerk webhook (Svix-signed)")
    async def receive_clerk_webhook(request: Request[Any, Any, Any]) -> dict[str, str]:
        core = core_of(request)
        core.webhooks.check_configured()
        result = await core.receive_webhook(
            await read_capped(request.stream(), request.headers.get("content-length"), core.webhooks.max_body_bytes),
            request.headers,
        )
        return result.as_json()

    return receive_clerk_webhook


def health_handler(path: str = "/healthz") -> HTTPRouteHandler:
    """Liveness: the process answers."""

    @get(path, tags=["observability"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return healthz


def readiness_handler(path: str = "/readyz") -> HTTPRouteHandler:
    """Readiness: 200 when database, signing keys and webhook secret are ok, else 503 naming the part."""

    @get(path, tags=["observability"], summary="Readiness: database, signing keys, webhook secret, last webhook")
    async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        report = await core_of(request).readiness()
        return Response(report.as_json(), status_code=report.status_code)

    return readyz
