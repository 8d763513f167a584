"""Baseline (a): the ``fastapi-clerk-auth`` package guarding a route; verification only, no database.

Configured from ``BENCH_JWKS_URL`` exactly as its README shows. ``uvicorn --factory
bench.baselines.verify_only:create_app``.
"""

import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi_clerk_auth import ClerkConfig, ClerkHTTPBearer, HTTPAuthorizationCredentials


def create_app() -> FastAPI:
    guard = ClerkHTTPBearer(config=ClerkConfig(jwks_url=os.environ["BENCH_JWKS_URL"]))
    app = FastAPI()

    @app.get("/me")
    async def me(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(guard)]) -> dict[str, Any]:
        decoded = credentials.decoded if credentials else None
        return {"clerk_id": (decoded or {}).get("sub")}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
