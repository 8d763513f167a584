"""Starlette integration: ``ClerkAuthBackend`` for ``AuthenticationMiddleware`` (``request.user`` is the synced
row), ``on_auth_error`` (problem+json), ``clerk_lifespan`` and ``webhook_endpoint``."""

from clerk_sync.starlette.backend import (
    STATE_KEY,
    ClerkAuthBackend,
    ClerkAuthError,
    ClerkCredentials,
    core_of,
    on_auth_error,
)
from clerk_sync.starlette.lifespan import clerk_lifespan
from clerk_sync.starlette.webhooks import webhook_endpoint

__all__ = [
    "STATE_KEY",
    "ClerkAuthBackend",
    "ClerkAuthError",
    "ClerkCredentials",
    "clerk_lifespan",
    "core_of",
    "on_auth_error",
    "webhook_endpoint",
]
