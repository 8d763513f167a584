"""``ClerkAuthBackend``: clerk-sync as a backend for Starlette's ``AuthenticationMiddleware``.

For any Starlette app, and FastAPI apps that prefer middleware to dependencies. Per request: the core judges
the ``Authorization`` header or the session cookies; no token means anonymous (Starlette's
``UnauthenticatedUser``); a verified token makes ``request.user`` the synced row and ``request.auth`` a
``ClerkCredentials`` carrying the claims and the scopes. A token that fails, or a user that cannot be synced,
is refused by ``on_auth_error`` as problem+json with ``WWW-Authenticate`` / ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError, BaseUser
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from clerk_sync.claims import SessionClaims
from clerk_sync.core import ClerkCore
from clerk_sync.errors import ClerkSyncError, ConfigurationError
from clerk_sync.problems import problem_for

__all__ = ["STATE_KEY", "ClerkAuthBackend", "ClerkAuthError", "ClerkCredentials", "core_of", "on_auth_error"]

#: The ``app.state`` attribute holding the open core; FastAPI's ``ClerkSync.lifespan`` uses the same one.
STATE_KEY = "clerk_sync"


class ClerkCredentials(AuthCredentials):
    """``request.auth``: Starlette's scopes, plus the verified ``claims``."""

    def __init__(self, claims: SessionClaims, scopes: Sequence[str]) -> None:
        super().__init__(scopes)
        self.claims = claims


class ClerkAuthError(AuthenticationError):
    """Starlette hands only its own ``AuthenticationError`` to ``on_error``; this one carries clerk-sync's."""

    def __init__(self, error: ClerkSyncError) -> None:
        super().__init__(error.code)
        self.error = error


def core_of(connection: HTTPConnection) -> ClerkCore:
    """The app's open core; a clear error when no lifespan opened one."""
    core = getattr(connection.app.state, STATE_KEY, None)
    if not isinstance(core, ClerkCore):
        raise ConfigurationError("clerk-sync is not started: pass lifespan=clerk_lifespan(...) to the app")
    return core


class ClerkAuthBackend(AuthenticationBackend):
    """``Middleware(AuthenticationMiddleware, backend=ClerkAuthBackend(), on_error=on_auth_error)``.

    ``sync_user=False`` verifies only (no database): ``request.user`` is then the claims themselves.
    ``scopes`` are what ``request.auth.scopes`` grants a verified request (Starlette's ``@requires``).
    """

    def __init__(self, *, sync_user: bool = True, scopes: Sequence[str] = ("authenticated",)) -> None:
        self.sync_user = sync_user
        self.scopes = tuple(scopes)

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        core = core_of(conn)
        try:
            claims = await core.authenticate(conn.headers.get("authorization"), conn.cookies)
            if claims is None:
                return None
            user: Any = await core.current_user(claims) if self.sync_user else claims
        except ClerkSyncError as exc:
            raise ClerkAuthError(exc) from exc
        # Starlette types ``request.user`` as its BaseUser; the app reads its own row (or the claims) from it.
        return ClerkCredentials(claims, self.scopes), cast(BaseUser, user)


def on_auth_error(conn: HTTPConnection, exc: Exception) -> JSONResponse:
    """``AuthenticationMiddleware(on_error=...)``: the refusal as problem+json (401 with ``WWW-Authenticate``,
    503 with ``Retry-After``), never a redirect."""
    if not isinstance(exc, ClerkAuthError):
        raise exc
    found = problem_for(exc.error)
    return JSONResponse(
        found.body(), status_code=found.status, headers=dict(found.headers), media_type=found.content_type
    )
