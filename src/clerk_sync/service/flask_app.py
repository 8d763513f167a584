"""``create_app``: the Flask reference service, built only from ``clerk_sync.flask``'s public names.

It serves the FastAPI reference service's contract (tests/contract): ``GET /me``, ``GET /me/claims``,
``POST /webhooks/clerk``, ``GET /healthz``, ``GET /readyz``, and problem+json for every other answer.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from clerk_sync.devkeys import DEV_ISSUER, load_dev_issuer
from clerk_sync.flask import (
    ClerkSync,
    clerk_required,
    current_claims,
    get_current_user,
    probes_blueprint,
    webhook_blueprint,
)
from clerk_sync.keys import SyncPemKeySet
from clerk_sync.service.contract import user_json
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import ClerkSettings, load_settings

__all__ = ["THREADS", "create_app", "user_json"]

#: Request threads per worker process (``flask_server`` serves with these): enough that a burst of first requests
#: races for real. The engine keeps one connection per thread (``ClerkSync(pool_size=...)``).
THREADS = 32

logger = logging.getLogger("clerk_sync")


def create_app(
    settings: ServiceSettings | None = None, clerk_settings: ClerkSettings | None = None, *, dev: bool = False
) -> Flask:
    """The service; ``dev`` trusts the local development key instead of Clerk's. The core opens here."""
    settings = settings or ServiceSettings()
    clerk_settings = clerk_settings or load_settings()
    key_set = None
    if dev:
        dev_issuer = load_dev_issuer()
        clerk_settings = clerk_settings.model_copy(update={"issuer": DEV_ISSUER, "authorized_parties": ()})
        key_set = SyncPemKeySet(dev_issuer.public_key)
    if clerk_settings.webhook_signing_secret is None:
        logger.warning(
            "CLERK_WEBHOOK_SIGNING_SECRET is not set: POST /webhooks/clerk answers 503 and /readyz is not ready"
        )
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # the documents' own order, as FastAPI sends them
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False  # OPTIONS is a 405 problem, as on the FastAPI service
    embedded = settings.database_url.startswith("sqlite")
    ClerkSync(
        app,
        settings=clerk_settings,
        database_url=settings.database_url,
        migrate=embedded,
        key_set=key_set,
        all_errors=True,
        pool_size=THREADS,
    )
    app.register_blueprint(webhook_blueprint())
    app.register_blueprint(probes_blueprint())

    @app.get("/me")
    @clerk_required
    def me() -> dict[str, Any]:
        # The row itself, not the proxy: serialising reads a dozen attributes, each a proxy lookup otherwise.
        return user_json(get_current_user())

    @app.get("/me/claims")
    @clerk_required
    def me_claims() -> dict[str, Any]:
        return {"clerk_id": current_claims.sub, "session_id": current_claims.sid}

    return app
