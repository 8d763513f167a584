"""``create_app``: the reference service, built only from the package's public names."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

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
    webhook_router,
)
from clerk_sync.keys import PemKeySet
from clerk_sync.service.contract import user_json
from clerk_sync.service.demo import demo_router
from clerk_sync.service.schemas import ClaimsOut, Health, Readiness, UserOut
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import ClerkSettings, load_settings

__all__ = ["create_app", "user_json"]

logger = logging.getLogger("clerk_sync")


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
    app = FastAPI(title="clerk-sync reference service", lifespan=clerk.lifespan)
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
