"""Litestar integration: ``ClerkSyncPlugin`` (lifespan, ``claims`` / ``current_user`` / ``db_session``
dependencies, the ``requires_user`` guard, webhook, health and readiness handlers, problem+json errors)."""

from clerk_sync.litestar.deps import (
    Claims,
    CurrentUser,
    DbSession,
    optional_claims,
    optional_user,
    provide_claims,
    provide_current_user,
    provide_db_session,
    provide_user_on_app_session,
    requires_user,
)
from clerk_sync.litestar.errors import ALL_EXCEPTION_HANDLERS, CLERK_EXCEPTION_HANDLERS, render
from clerk_sync.litestar.openapi import CLERK_SECURITY, SCHEME_NAME, SECURITY_SCHEME
from clerk_sync.litestar.plugin import ClerkSyncPlugin
from clerk_sync.litestar.routes import health_handler, readiness_handler, webhook_handler
from clerk_sync.litestar.runtime import core_of

__all__ = [
    "ALL_EXCEPTION_HANDLERS",
    "CLERK_EXCEPTION_HANDLERS",
    "CLERK_SECURITY",
    "SCHEME_NAME",
    "SECURITY_SCHEME",
    "Claims",
    "ClerkSyncPlugin",
    "CurrentUser",
    "DbSession",
    "core_of",
    "health_handler",
    "optional_claims",
    "optional_user",
    "provide_claims",
    "provide_current_user",
    "provide_db_session",
    "provide_user_on_app_session",
    "readiness_handler",
    "render",
    "requires_user",
    "webhook_handler",
]
