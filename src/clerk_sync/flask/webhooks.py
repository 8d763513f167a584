"""``POST /webhooks/clerk``: the core's webhook receiver behind a Flask blueprint.

2xx once an event is applied, a duplicate or an ignored type; 400 for a bad signature or body; 413 for an
oversized one (refused by ``Content-Length`` first, and never more than the cap plus one byte read from the
stream); 503 when no secret is configured or the database failed, so Svix retries and nothing is lost. Flask has
no CSRF of its own; an app on Flask-WTF exempts the blueprint (``csrf.exempt(blueprint)``).
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

from clerk_sync.flask.extension import state_of
from clerk_sync.receiver import read_capped_sync
from clerk_sync.webhooks import DEFAULT_MAX_BODY_BYTES

__all__ = ["webhook_blueprint"]


def webhook_blueprint(
    path: str = "/webhooks/clerk", *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, name: str = "clerk_sync_webhooks"
) -> Blueprint:
    """A blueprint to register on the app: ``app.register_blueprint(webhook_blueprint())``."""
    blueprint = Blueprint(name, __name__)

    @blueprint.post(path)
    def receive_clerk_webhook() -> dict[str, str]:
        core = state_of(current_app).core
        core.webhooks.check_configured()
        limit = min(max_body_bytes, core.webhooks.max_body_bytes)
        body = read_capped_sync(request.stream.read, request.headers.get("Content-Length"), limit)
        return core.receive_webhook(body, dict(request.headers.items())).as_json()

    return blueprint
