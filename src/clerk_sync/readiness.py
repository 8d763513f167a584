"""Readiness as data: which part of a running app can serve, for every adapter's ``/readyz``.

The report never raises: a failing part is named in it (any database error means "not ready"), and the adapter
answers 200 or 503 with the same body everywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["DatabaseCheck", "KeysCheck", "Readiness", "WebhooksCheck"]

KeysCheck = Literal["ok", "unavailable"]
DatabaseCheck = Literal["ok", "unavailable", "not configured"]
WebhooksCheck = Literal["ok", "not configured"]


@dataclass(frozen=True, slots=True)
class Readiness:
    """One probe's findings. ``webhooks`` is "not configured" without a usable signing secret: the route could
    only answer 503, so an app that mounts it is not ready."""

    signing_keys: KeysCheck
    database: DatabaseCheck
    webhooks: WebhooksCheck
    last_webhook_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.signing_keys == "ok" and self.database == "ok" and self.webhooks == "ok"

    @property
    def status_code(self) -> int:
        return 200 if self.ok else 503

    def as_json(self, now: float | None = None) -> dict[str, Any]:
        """The ``/readyz`` body every reference app serves."""
        last = self.last_webhook_at
        current = time.time() if now is None else now
        return {
            "status": "ok" if self.ok else "unavailable",
            "checks": {"signing_keys": self.signing_keys, "database": self.database, "webhooks": self.webhooks},
            "last_webhook_at": last.isoformat() if last is not None else None,
            "last_webhook_age_s": round(current - last.timestamp(), 1) if last is not None else None,
        }
