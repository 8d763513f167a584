"""Baseline (d): the same FastAPI stack with no authentication at all, the ceiling for every other app.

Same server settings as the others (one uvicorn worker, access log off); the route returns a body of the same
shape as the verify-only apps, so the gap to it is what authentication (and the user sync) costs.
``uvicorn --factory bench.baselines.no_auth:create_app``.
"""

from typing import Any

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    async def me() -> dict[str, Any]:
        return {"clerk_id": "user_bench"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
