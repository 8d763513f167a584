"""FastAPI dependencies and their ``Annotated`` aliases.

Naming: bare role nouns for principals (``Claims``, ``CurrentUser``), ``XDep`` for infrastructure. Providers are
module-level objects, so FastAPI's per-request cache (keyed by the callable) runs each once per request no
matter how many routes, guards and sub-dependencies ask for it.

The token dependencies are security schemes themselves: one object declares the scheme in OpenAPI (the /docs
"Authorize" button) and verifies the token, with no sub-dependencies. Each dependency FastAPI resolves costs
several microseconds per request, and the token path is on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import TokenMissingError
from clerk_sync.fastapi.runtime import ClerkRuntime, get_runtime, runtime_of
from clerk_sync.metrics import VERIFICATIONS

__all__ = [
    "Claims",
    "ClerkScheme",
    "ClerkSessionScheme",
    "OptionalClaims",
    "RuntimeDep",
    "get_claims",
    "get_optional_claims",
]

RuntimeDep = Annotated[ClerkRuntime, Depends(get_runtime)]
"""The app's running ``ClerkCore`` (authenticator, store, webhook receiver, readiness)."""

SCHEME_NAME = "ClerkSession"

#: Where a request keeps its verified claims, so ``Claims`` and ``OptionalClaims`` in one request verify once.
_VERIFIED = "clerk_sync.claims"


class ClerkScheme(SecurityBase):
    """The Clerk session token as an OpenAPI security scheme (HTTP bearer, JWT); subclasses decide what a call
    yields. ``required``: a request without a token is refused with 401 ``session-token-missing``; otherwise
    ``claims`` yields None. A token that is sent must verify either way. The runtime's ``Authenticator`` reads the
    ``Authorization`` header or the session cookies and judges them; FastAPI only documents the scheme.
    """

    def __init__(self, *, required: bool) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="JWT", description="A Clerk session token (or the `__session` cookie)."
        )
        self.scheme_name = SCHEME_NAME
        self.required = required

    async def claims(self, request: Request) -> SessionClaims | None:
        """The request's verified claims; verified once per request, whichever scheme object asks first."""
        known: SessionClaims | None = request.scope.get(_VERIFIED)
        if known is not None:
            return known
        claims = await runtime_of(request).authenticate(request.headers.get("authorization"), request.cookies)
        if claims is None:
            if self.required:
                VERIFICATIONS.labels(TokenMissingError.code).inc()
                raise TokenMissingError("No session token in the Authorization header or the __session cookie.")
            return None
        request.scope[_VERIFIED] = claims
        return claims


class ClerkSessionScheme(ClerkScheme):
    """Calling it yields the verified ``SessionClaims`` (or None when optional and no token was sent)."""

    async def __call__(self, request: Request) -> SessionClaims | None:
        return await self.claims(request)


get_optional_claims = ClerkSessionScheme(required=False)
"""None when the request carries no token; a sent token must verify, or the request is refused."""

get_claims = ClerkSessionScheme(required=True)
"""The verified identity, or 401 ``session-token-missing``."""

Claims = Annotated[SessionClaims, Depends(get_claims)]
"""The verified session claims; 401 when absent or invalid. No database access."""

OptionalClaims = Annotated[SessionClaims | None, Depends(get_optional_claims)]
"""The verified claims, or None for an anonymous request."""
