"""``create_app``: the reference service, built only from the package's public names."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from clerk_sync import __version__
from clerk_sync.db import AsyncSQLAlchemyStore
from clerk_sync.db.mixin import utcnow
from clerk_sync.devkeys import DEV_ISSUER, load_dev_issuer
from clerk_sync.errors import AuthenticationError, DatabaseUnavailableError, KeySetUnavailableError
from clerk_sync.fastapi import (
    Claims,
    ClerkSync,
    CurrentUser,
    RuntimeDep,
    install_exception_handlers,
    metrics_router,
    problem_responses,
    runtime_of,
    webhook_router,
)
from clerk_sync.keys import PemKeySet
from clerk_sync.service import swagger
from clerk_sync.service.contract import user_json
from clerk_sync.service.demo import demo_router
from clerk_sync.service.schemas import ClaimsOut, Health, Readiness, UserOut
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import ClerkSettings, load_settings

__all__ = ["create_app", "prune_webhooks_periodically", "user_json"]

logger = logging.getLogger("clerk_sync")


async def prune_webhooks_periodically(
    store: AsyncSQLAlchemyStore[Any], *, retention: timedelta, interval_s: float
) -> None:
    """Prune the webhook ledger now and every ``interval_s`` until cancelled.

    A failed round (the database is down, say) is logged and the next one tries again: retention is
    housekeeping, and it must never take the service down or delay a delivery.
    """
    while True:
        try:
            pruned = await store.prune_webhooks(utcnow() - retention)
        except Exception as exc:  # housekeeping never fails the service
            logger.warning("webhook ledger prune failed (%s); retrying in %s s", type(exc).__name__, interval_s)
        else:
            if pruned:
                logger.info("webhook ledger: pruned %d ids older than %s", pruned, retention)
        await asyncio.sleep(interval_s)


def _with_retention(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]], settings: ServiceSettings
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """``lifespan`` plus, when ``CLERK_SYNC_WEBHOOK_RETENTION_INTERVAL_S`` is set, the periodic prune for as
    long as the app runs (cancelled before the core closes). Every worker runs its own: rounds are idempotent."""
    if settings.webhook_retention_interval_s <= 0:
        return lifespan

    @asynccontextmanager
    async def with_retention(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(app):
            store = runtime_of(Request({"type": "http", "app": app})).store
            task = None
            if isinstance(store, AsyncSQLAlchemyStore):
                task = asyncio.create_task(
                    prune_webhooks_periodically(
                        store, retention=settings.webhook_retention, interval_s=settings.webhook_retention_interval_s
                    ),
                    name="clerk-sync webhook retention",
                )
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    return with_retention


def _serve_swagger_ui(app: FastAPI) -> None:
    """``/docs`` (and its OAuth2 redirect page) with every script, style and icon served by the app itself."""
    app.mount(swagger.STATIC_PATH, StaticFiles(directory=swagger.STATIC_DIR), name="swagger-ui")
    redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=redirect,
            swagger_js_url=swagger.JS_URL,
            swagger_css_url=swagger.CSS_URL,
            swagger_favicon_url=swagger.FAVICON_URL,
        )

    @app.get(redirect, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def create_app(
    settings: ServiceSettings | None = None, clerk_settings: ClerkSettings | None = None, *, dev: bool = False
) -> FastAPI:
    """The service; ``dev`` trusts the local development key instead of Clerk's."""
    settings = settings or ServiceSettings()
    clerk_settings = clerk_settings or load_settings()
    key_set = None
    dev_issuer = None
    if dev:
        dev_issuer = load_dev_issuer()
        clerk_settings = clerk_settings.model_copy(update={"issuer": DEV_ISSUER, "authorized_parties": ()})
        key_set = PemKeySet(dev_issuer.public_key)
    embedded = settings.database_url.startswith("sqlite")
    # The service owns its process, so it may freeze the collector after start-up (~70 ms p99 stalls less).
    clerk = ClerkSync(
        clerk_settings, database_url=settings.database_url, migrate=embedded, key_set=key_set, freeze_gc=True
    )
    clerk.validate()
    if clerk_settings.webhook_signing_secret is None:
        logger.warning(
            "CLERK_WEBHOOK_SIGNING_SECRET is not set: POST /webhooks/clerk answers 503 and /readyz is not ready"
        )
    # /docs from the installed swagger-ui-bundle, not FastAPI's CDN default; Redoc (CDN and Google fonts) is off.
    app = FastAPI(
        title="clerk-sync reference service",
        version=__version__,
        lifespan=_with_retention(clerk.lifespan, settings),
        docs_url=None,
        redoc_url=None,
    )
    _serve_swagger_ui(app)
    install_exception_handlers(app, all_errors=True)
    app.include_router(webhook_router())
    app.include_router(metrics_router())
    if dev_issuer is not None:
        app.include_router(demo_router(dev_issuer))

    @app.get(
        "/me",
        summary="The current user, synced from the session token",
        response_model=UserOut,
        responses=problem_responses(AuthenticationError, KeySetUnavailableError, DatabaseUnavailableError),
    )
    async def me(user: CurrentUser) -> dict[str, Any]:
        return user_json(user)

    @app.get(
        "/me/claims",
        summary="The verified identity alone (no database)",
        response_model=ClaimsOut,
        responses=problem_responses(AuthenticationError, KeySetUnavailableError),
    )
    async def me_claims(claims: Claims) -> dict[str, Any]:
        return {"clerk_id": claims.sub, "session_id": claims.sid}

    @app.get("/healthz", summary="Liveness", response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Readiness: database, signing keys, webhook secret, last webhook",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A check is not `ok`; the body names it."}},
    )
    async def readyz(runtime: RuntimeDep) -> JSONResponse:
        report = await runtime.readiness()
        return JSONResponse(report.as_json(), status_code=report.status_code)

    return app
