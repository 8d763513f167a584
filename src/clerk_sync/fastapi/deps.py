"""FastAPI dependencies and their ``Annotated`` aliases.

Naming: bare role nouns for principals (``Claims``, ``CurrentUser``), ``XDep`` for infrastructure. Providers are
module-level functions, so FastAPI's per-request cache (keyed by the callable) runs each once per request no
matter how many routes, guards and sub-dependencies ask for it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import ClerkSyncError, TokenMissingError
from clerk_sync.fastapi.runtime import ClerkRuntime, get_runtime
from clerk_sync.metrics import VERIFICATIONS
from clerk_sync.tokens import find_token

__all__ = [
    "Claims",
    "CurrentClaims",
    "OptionalClaims",
    "RuntimeDep",
    "bearer_scheme",
    "get_claims",
    "get_optional_claims",
]

#: Declares the scheme in OpenAPI (the /docs "Authorize" button); our own code reads and judges the header.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ClerkSession",
    bearerFormat="JWT",
    description="A Clerk session token (or the `__session` cookie).",
)

RuntimeDep = Annotated[ClerkRuntime, Depends(get_runtime)]
"""The app's clerk-sync runtime (verifier, HTTP client, database)."""


async def get_optional_claims(
    request: Request,
    runtime: RuntimeDep,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)] = None,
) -> SessionClaims | None:
    """None when the request carries no token; a sent token must verify, or the request is refused."""
    carrier = find_token(request.headers.get("authorization"), request.cookies)
    if carrier is None:
        return None
    try:
        claims = await runtime.verifier.verify(carrier.token)
    except ClerkSyncError as exc:
        VERIFICATIONS.labels(exc.code).inc()
        raise
    VERIFICATIONS.labels("ok").inc()
    return claims


async def get_claims(claims: Annotated[SessionClaims | None, Depends(get_optional_claims)]) -> SessionClaims:
    """The verified identity, or 401 ``session-token-missing``."""
    if claims is None:
        VERIFICATIONS.labels(TokenMissingError.code).inc()
        raise TokenMissingError("No session token in the Authorization header or the __session cookie.")
    return claims


Claims = Annotated[SessionClaims, Depends(get_claims)]
"""The verified session claims; 401 when absent or invalid. No database access."""

CurrentClaims = Claims
"""Alias of ``Claims`` for readers who prefer the ``Current*`` family."""

OptionalClaims = Annotated[SessionClaims | None, Depends(get_optional_claims)]
"""The verified claims, or None for an anonymous request."""
