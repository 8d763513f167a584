"""Litestar peer (a): Clerk's official Python SDK (``clerk-backend-api``) guarding a handler; verification only.

``Clerk().authenticate_request_async`` (the SDK's async twin, for an async handler) with a networkless key
(``BENCH_JWT_KEY``) and ``authorized_parties`` (``BENCH_AUTHORIZED_PARTIES``); the SDK reads only
``request.headers``, so Litestar's request is passed as is. No database. ``uvicorn --factory
bench.baselines.litestar_sdk:create_app``.
"""

import os
from typing import Any

from clerk_backend_api import Clerk
from clerk_backend_api.security.types import AuthenticateRequestOptions
from litestar import Litestar, Request, get
from litestar.exceptions import NotAuthorizedException

__all__ = ["create_app"]


def create_app() -> Litestar:
    sdk = Clerk()
    jwt_key = os.environ["BENCH_JWT_KEY"]
    parties = [party for party in os.environ["BENCH_AUTHORIZED_PARTIES"].split(",") if party]

    @get("/me")
    async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
        # Fresh options per request: the SDK method writes secret_key into the options it is given.
        options = AuthenticateRequestOptions(jwt_key=jwt_key, authorized_parties=parties)
        state = await sdk.authenticate_request_async(request, options)
        if not state.is_signed_in or state.payload is None:
            raise NotAuthorizedException("signed out")
        return {"clerk_id": state.payload.get("sub")}

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([me, healthz], logging_config=None)
