"""FastAPI integration: lifespan, dependencies (``Claims``, ``CurrentUser``), error mapping, webhook router."""

from clerk_sync.fastapi.deps import (
    Claims,
    ClerkScheme,
    ClerkSessionScheme,
    OptionalClaims,
    RuntimeDep,
    get_claims,
    get_optional_claims,
)
from clerk_sync.fastapi.errors import install_exception_handlers, problem_response, status_for
from clerk_sync.fastapi.metrics import metrics_router
from clerk_sync.fastapi.openapi import ProblemDetails, problem_responses
from clerk_sync.fastapi.runtime import ClerkRuntime, ClerkSync, get_runtime, runtime_of
from clerk_sync.fastapi.users import (
    ClerkUserScheme,
    CurrentUser,
    OptionalUser,
    SessionDep,
    get_current_user,
    get_optional_user,
    get_session,
)
from clerk_sync.fastapi.webhooks import webhook_router

__all__ = [
    "Claims",
    "ClerkRuntime",
    "ClerkScheme",
    "ClerkSessionScheme",
    "ClerkSync",
    "ClerkUserScheme",
    "CurrentUser",
    "OptionalClaims",
    "OptionalUser",
    "ProblemDetails",
    "RuntimeDep",
    "SessionDep",
    "get_claims",
    "get_current_user",
    "get_optional_claims",
    "get_optional_user",
    "get_runtime",
    "get_session",
    "install_exception_handlers",
    "metrics_router",
    "problem_response",
    "problem_responses",
    "runtime_of",
    "status_for",
    "webhook_router",
]
