"""A tiny Starlette app on ``ClerkAuthBackend`` (the Starlette reference), and a FastAPI app using the backend as
middleware under ``ClerkSync.lifespan``."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from clerk_sync.fastapi import ClerkSync
from clerk_sync.settings import ClerkSettings
from clerk_sync.starlette import ClerkAuthBackend, clerk_lifespan, on_auth_error, webhook_endpoint


async def me(request: Request) -> JSONResponse:
    if "authenticated" not in request.auth.scopes:  # the row is the app's model, not a Starlette BaseUser
        return JSONResponse({"anonymous": True})
    return JSONResponse(
        {
            "id": request.user.id,
            "clerk_id": request.user.clerk_id,
            "sub": request.auth.claims.sub,
            "scopes": request.auth.scopes,
        }
    )


def starlette_app(settings: ClerkSettings, database_url: str) -> Starlette:
    """Starlette with the backend, the webhook endpoint and the lifespan."""
    return Starlette(
        routes=[Route("/me", me), Route("/webhooks/clerk", webhook_endpoint, methods=["POST"])],
        middleware=[Middleware(AuthenticationMiddleware, backend=ClerkAuthBackend(), on_error=on_auth_error)],
        lifespan=clerk_lifespan(settings, database_url=database_url, migrate=True),
    )


def fastapi_app(settings: ClerkSettings, database_url: str) -> FastAPI:
    """FastAPI preferring middleware: ``ClerkSync.lifespan`` opens the core the backend finds."""
    app = FastAPI(lifespan=ClerkSync(settings, database_url=database_url, migrate=True).lifespan)
    app.add_middleware(AuthenticationMiddleware, backend=ClerkAuthBackend(), on_error=on_auth_error)
    app.add_route("/me", me)
    return app
