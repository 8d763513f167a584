"""Prometheus metrics for the token path, the sync engine and webhooks.

They are module-level objects in one registry of our own (``REGISTRY``), created once at import: several apps in
one process (tests, multi-tenant hosts) share them instead of failing on duplicate registration, and the
``/metrics`` route renders exactly our series, not the whole process's default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = [
    "REGISTRY",
    "SYNC_SECONDS",
    "USERS_WRITTEN",
    "VERIFICATIONS",
    "VERIFIED",
    "WEBHOOKS",
    "render",
]

REGISTRY = CollectorRegistry(auto_describe=True)

VERIFICATIONS = Counter(
    "clerk_sync_token_verifications",
    "Session tokens judged, by result code ('ok' or the refusal's code).",
    ["result"],
    registry=REGISTRY,
)
#: The ``ok`` child, bound once: every verified request counts here, and ``labels()`` takes a lock and a dict
#: lookup each time it is called.
VERIFIED = VERIFICATIONS.labels("ok")
USERS_WRITTEN = Counter(
    "clerk_sync_users_written",
    "User rows written, by action (created, updated, deleted) and source (token, webhook, backfill, api).",
    ["action", "source"],
    registry=REGISTRY,
)
WEBHOOKS = Counter(
    "clerk_sync_webhooks",
    "Webhook deliveries, by outcome (an action, duplicate, ignored, or an error code).",
    ["outcome"],
    registry=REGISTRY,
)
SYNC_SECONDS = Histogram(
    "clerk_sync_user_sync_seconds",
    "Time to sync the user row on the request path.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)


def render() -> bytes:
    """The registry in Prometheus text format."""
    return generate_latest(REGISTRY)
