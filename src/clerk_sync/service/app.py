"""``create_app``: the reference service, built only from the package's public names."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from clerk_sync.devkeys import DEV_ISSUER, load_dev_issuer
from clerk_sync.fastapi import Claims, ClerkSync, RuntimeDep, install_exception_handlers
from clerk_sync.keys import PemKeySet
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import ClerkSettings, load_settings

__all__ = ["create_app"]


def create_app(
    settings: ServiceSettings | None = None, clerk_settings: ClerkSettings | None = None, *, dev: bool = False
) -> FastAPI:
    """The service; ``dev`` trusts the local development key instead of Clerk's."""
    settings = settings or ServiceSettings()
    clerk_settings = clerk_settings or load_settings()
    key_set = None
    if dev:
        clerk_settings = clerk_settings.model_copy(update={"issuer": DEV_ISSUER, "authorized_parties": ()})
        key_set = PemKeySet(load_dev_issuer().public_key)
    clerk = ClerkSync(clerk_settings, key_set=key_set)
    clerk.validate()
    app = FastAPI(title="clerk-sync reference service", lifespan=clerk.lifespan)
    install_exception_handlers(app)

    @app.get("/me")
    async def me(claims: Claims) -> dict[str, Any]:
        return {"clerk_id": claims.sub, "session_id": claims.sid}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(runtime: RuntimeDep) -> JSONResponse:
        checks = {"signing_keys": "ok" if runtime.verifier.keys.ready else "unavailable"}
        ok = all(value == "ok" for value in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)

    return app
