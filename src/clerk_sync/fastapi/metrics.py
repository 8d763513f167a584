"""``GET /metrics``: clerk-sync's Prometheus series in text format."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from clerk_sync.metrics import render

__all__ = ["metrics_router"]

_DOCUMENTED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def metrics_router(path: str = "/metrics", *, include_in_schema: bool = True) -> APIRouter:
    """Mount with ``app.include_router(metrics_router())``; protect it at the proxy if it must not be public."""
    router = APIRouter(tags=["observability"])

    @router.get(
        path,
        summary="Prometheus metrics",
        response_class=Response,
        responses=_DOCUMENTED,
        include_in_schema=include_in_schema,
    )
    async def metrics() -> Response:
        return Response(render(), media_type=CONTENT_TYPE_LATEST)

    return router
