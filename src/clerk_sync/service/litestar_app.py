"""``create_app``: the Litestar reference service, built only from ``clerk_sync.litestar``'s public names.

It serves the FastAPI reference service's contract exactly (tests/contract): ``/me``, ``/me/claims``,
``/webhooks/clerk``, ``/healthz``, ``/readyz``, and problem+json for every refusal and crash.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Litestar, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from clerk_sync.devkeys import DEV_ISSUER, load_dev_issuer
from clerk_sync.keys import PemKeySet
from clerk_sync.litestar import CLERK_SECURITY, Claims, ClerkSyncPlugin, CurrentUser
from clerk_sync.service import swagger
from clerk_sync.service.contract import user_json
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import ClerkSettings, load_settings

__all__ = ["create_app", "user_json"]

logger = logging.getLogger("clerk_sync")


@get("/me", summary="The current user, synced from the session token", security=CLERK_SECURITY)
async def me(current_user: CurrentUser) -> dict[str, Any]:
    return user_json(current_user)


@get("/me/claims", summary="The verified identity alone (no database)", security=CLERK_SECURITY)
async def me_claims(claims: Claims) -> dict[str, Any]:
    return {"clerk_id": claims.sub, "session_id": claims.sid}


#: ``/schema`` (and ``/schema/swagger``) is Swagger UI from the installed swagger-ui-bundle, ``/schema/openapi.json``
#: the document. Litestar's other renderers (Redoc, RapiDoc, Elements) load their scripts from a CDN: left out.
OPENAPI = OpenAPIConfig(
    title="clerk-sync reference service (Litestar)",
    version="1.0.0",
    render_plugins=[
        SwaggerRenderPlugin(
            js_url=swagger.JS_URL,
            css_url=swagger.CSS_URL,
            standalone_preset_js_url=swagger.PRESET_JS_URL,
            path=["/", "/swagger"],
            favicon=f'<link rel="icon" type="image/png" href="{swagger.FAVICON_URL}">',
        ),
        JsonRenderPlugin(),
    ],
)


def create_app(
    settings: ServiceSettings | None = None, clerk_settings: ClerkSettings | None = None, *, dev: bool = False
) -> Litestar:
    """The service; ``dev`` trusts the local development key instead of Clerk's."""
    settings = settings or ServiceSettings()
    clerk_settings = clerk_settings or load_settings()
    key_set = None
    if dev:
        dev_issuer = load_dev_issuer()
        clerk_settings = clerk_settings.model_copy(update={"issuer": DEV_ISSUER, "authorized_parties": ()})
        key_set = PemKeySet(dev_issuer.public_key)
    embedded = settings.database_url.startswith("sqlite")
    plugin = ClerkSyncPlugin(
        clerk_settings,
        database_url=settings.database_url,
        migrate=embedded,
        key_set=key_set,
        all_errors=True,
        freeze_gc=True,
    )
    if clerk_settings.webhook_signing_secret is None:
        logger.warning(
            "CLERK_WEBHOOK_SIGNING_SECRET is not set: POST /webhooks/clerk answers 503 and /readyz is not ready"
        )
    # Logging stays the server's (uvicorn's), as in the FastAPI service; Litestar's default reconfigures the root.
    static = create_static_files_router(swagger.STATIC_PATH, [swagger.STATIC_DIR], include_in_schema=False)
    return Litestar([me, me_claims, static], plugins=[plugin], logging_config=None, openapi_config=OPENAPI)
