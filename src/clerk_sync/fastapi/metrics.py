"""``GET /metrics``: clerk-sync's Prometheus series in text format."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from clerk_sync.metrics import render

__all__ = ["metrics_router"]


def metrics_router(path: str = "/metrics") -> APIRouter:
    """Mount with ``app.include_router(metrics_router())``; protect it at the proxy if it must not be public."""
    router = APIRouter(tags=["observability"])

    @router.get(path, summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    return router
