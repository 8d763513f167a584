"""``GET /healthz`` (liveness) and ``GET /readyz`` (database, signing keys, webhook secret) as a blueprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from clerk_sync.flask.extension import state_of

__all__ = ["probes_blueprint"]


def probes_blueprint(
    health_path: str = "/healthz", ready_path: str = "/readyz", *, name: str = "clerk_sync_probes"
) -> Blueprint:
    """``app.register_blueprint(probes_blueprint())``; ``/readyz`` is 200 when every check is ``ok``, else 503
    with the same body naming the part."""
    blueprint = Blueprint(name, __name__)

    @blueprint.get(health_path)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @blueprint.get(ready_path)
    def readyz() -> tuple[dict[str, Any], int]:
        report = state_of(current_app).core.readiness()
        return report.as_json(), report.status_code

    return blueprint
