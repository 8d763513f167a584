"""A host app with a route that crashes, for ``test_server_errors.py`` to run under a real uvicorn process.

The crash message carries the request's own ``Authorization`` value, as a careless ``f"{request.headers}"`` in a
real bug would: the server log must still not contain the token.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from clerk_sync.fastapi import install_exception_handlers

__all__ = ["create_app"]


def create_app() -> FastAPI:
    """``uvicorn tests.integrations.crashing_app:create_app --factory``."""
    app = FastAPI()
    install_exception_handlers(app, all_errors=True)

    @app.get("/peer")
    async def peer(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    @app.get("/crash")
    async def crash(request: Request) -> None:
        raise RuntimeError(f"bug while handling {request.headers.get('authorization')}")

    return app
