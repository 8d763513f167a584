"""FastAPI integration: lifespan, dependencies, error mapping."""

from clerk_sync.fastapi.deps import (
    Claims,
    CurrentClaims,
    OptionalClaims,
    RuntimeDep,
    bearer_scheme,
    get_claims,
    get_optional_claims,
)
from clerk_sync.fastapi.errors import install_exception_handlers, problem_response, status_for
from clerk_sync.fastapi.runtime import ClerkRuntime, ClerkSync, get_runtime

__all__ = [
    "Claims",
    "ClerkRuntime",
    "ClerkSync",
    "CurrentClaims",
    "OptionalClaims",
    "RuntimeDep",
    "bearer_scheme",
    "get_claims",
    "get_optional_claims",
    "get_runtime",
    "install_exception_handlers",
    "problem_response",
    "status_for",
]
