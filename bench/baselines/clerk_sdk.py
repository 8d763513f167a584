"""Baseline (c): Clerk's official Python SDK (``clerk-backend-api``) guarding a route; verification only.

It calls ``Clerk.authenticate_request`` with a networkless key (``jwt_key``, the PEM from ``BENCH_JWT_KEY``) and
``authorized_parties`` from ``BENCH_AUTHORIZED_PARTIES``, as Clerk's docs show. The SDK only reads
``request.headers``, so the Starlette request is passed as is. With ``jwt_key`` set it does no I/O, so the sync
call runs on the event loop like the other apps' verification. Not a main dependency:
``pip install -e '.[bench]'``. ``uvicorn --factory bench.baselines.clerk_sdk:create_app``.
"""

import os
from typing import Any

from clerk_backend_api import Clerk
from clerk_backend_api.security.types import AuthenticateRequestOptions
from fastapi import FastAPI, HTTPException, Request


def create_app() -> FastAPI:
    sdk = Clerk()
    jwt_key = os.environ["BENCH_JWT_KEY"]
    parties = [party for party in os.environ["BENCH_AUTHORIZED_PARTIES"].split(",") if party]
    app = FastAPI()

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        # Fresh options per request: the SDK method writes secret_key into the options it is given.
        state = sdk.authenticate_request(
            request, AuthenticateRequestOptions(jwt_key=jwt_key, authorized_parties=parties)
        )
        if not state.is_signed_in or state.payload is None:
            raise HTTPException(status_code=401, detail="signed out")
        return {"clerk_id": state.payload.get("sub")}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
