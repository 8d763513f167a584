"""The request path: claims, the user (one sync per request, lazily) and the request's database session.

Litestar resolves each dependency once per request, but a guard runs outside dependency injection, so the
verified claims and the synced user are cached in the request's ASGI scope: the guard, ``claims`` and
``current_user`` in one request verify once and sync once. Whichever of ``current_user`` and ``db_session`` is
resolved second attaches the user to the session (no query), so a change the handler makes commits with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from clerk_sync.claims import SessionClaims
from clerk_sync.db import AsyncSQLAlchemyStore, ClerkUserMixin
from clerk_sync.errors import ConfigurationError, TokenMissingError
from clerk_sync.litestar.runtime import core_of
from clerk_sync.metrics import VERIFICATIONS

__all__ = [
    "Claims",
    "CurrentUser",
    "DbSession",
    "optional_claims",
    "optional_user",
    "provide_claims",
    "provide_current_user",
    "provide_db_session",
    "provide_user_on_app_session",
    "requires_user",
]

_CLAIMS = "clerk_sync.claims"
_USER = "clerk_sync.user"
_SESSION = "clerk_sync.session"

Connection = ASGIConnection[Any, Any, Any, Any]

Claims = NamedDependency[SessionClaims]
"""A handler's ``claims: Claims``: the verified session claims; 401 when absent or invalid. No database."""

CurrentUser = NamedDependency[ClerkUserMixin]
"""A handler's ``current_user: CurrentUser``: the synced row. With an app's own model, annotate
``current_user: NamedDependency[MyUser]`` for precise typing."""

DbSession = NamedDependency[AsyncSession]
"""A handler's ``db_session: DbSession``: the request's session, the one ``current_user`` is bound to."""


async def optional_claims(connection: Connection) -> SessionClaims | None:
    """The verified claims, or None when the request sent no token (a sent token must verify)."""
    known: SessionClaims | None = _scope(connection).get(_CLAIMS)
    if known is not None:
        return known
    claims = await core_of(connection).authenticate(connection.headers.get("authorization"), connection.cookies)
    if claims is not None:
        _scope(connection)[_CLAIMS] = claims
    return claims


async def provide_claims(request: Connection) -> SessionClaims:
    """The ``claims`` dependency: the verified identity, or 401 ``session-token-missing``. No database."""
    claims = await optional_claims(request)
    if claims is None:
        VERIFICATIONS.labels(TokenMissingError.code).inc()
        raise TokenMissingError("No session token in the Authorization header or the __session cookie.")
    return claims


async def optional_user(connection: Connection) -> Any:
    """The synced row, or None for an anonymous request; synced at most once per request."""
    known = _scope(connection).get(_USER)
    if known is not None:
        return known
    claims = await optional_claims(connection)
    if claims is None:
        return None
    user = await core_of(connection).current_user(claims)
    _scope(connection)[_USER] = user
    session = _scope(connection).get(_SESSION)
    if session is not None:
        _bind(session, user)
    return user


async def provide_current_user(request: Connection) -> Any:
    """The ``current_user`` dependency: the app's user row for the verified token; 401 without one."""
    await provide_claims(request)
    return await optional_user(request)


async def requires_user(connection: Connection, _: BaseRouteHandler) -> None:
    """A guard (``guards=[requires_user]``): 401 problem+json with ``WWW-Authenticate`` unless the request's token
    verifies and its user syncs; the handler's ``current_user`` then reuses that row."""
    await provide_current_user(connection)


async def provide_db_session(request: Connection) -> AsyncIterator[AsyncSession]:
    """The ``db_session`` dependency: one session per request on the store's engine, the one ``current_user`` is
    bound to. Connecting is lazy, so a handler that never queries never touches the database."""
    store = core_of(request).store
    if not isinstance(store, AsyncSQLAlchemyStore):
        raise ConfigurationError("db_session needs a database: pass database_url= (or engine=) to ClerkSyncPlugin")
    async with store.sessionmaker() as session:
        _scope(request)[_SESSION] = session
        user = _scope(request).get(_USER)
        if user is not None:
            _bind(session, user)
        yield session


async def provide_user_on_app_session(request: Connection, db_session: DbSession) -> Any:
    """``current_user`` for an app that provides ``db_session`` itself (Advanced Alchemy's plugin): the user is
    attached to the app's session."""
    user = await provide_current_user(request)
    _bind(db_session, user)
    return user


def _scope(connection: Connection) -> dict[str, Any]:
    """The request's ASGI scope as the plain dict it is (Litestar types it as a closed TypedDict)."""
    return cast(dict[str, Any], connection.scope)


def _bind(session: AsyncSession, user: Any) -> None:
    """Attach the (detached) user to the session without a query, unless it already holds that row."""
    key = sa_inspect(user).key
    if key is None or session.sync_session.identity_map.get(key) is None:
        session.add(user)
