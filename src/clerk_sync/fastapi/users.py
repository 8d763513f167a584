"""The user on the request path: one sync per request, bound to the request's database session if it has one.

``ClerkCore.current_user`` does the work (a steady state is the store's one read; a first sight or a change
writes). When the route also asks for ``SessionDep``, the user is attached to that session (no query), so
changes the route makes to it commit with the session.

``get_current_user`` is a module-level object, so FastAPI's per-request cache makes a router guard, the route
and any sub-dependency share a single sync. When the database fails, only routes that need a ``User`` answer 503
``database-unavailable``; routes that take ``Claims`` alone never touch it and keep working.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from clerk_sync.db import AsyncSQLAlchemyStore, ClerkUserMixin
from clerk_sync.errors import ConfigurationError
from clerk_sync.fastapi.deps import ClerkScheme
from clerk_sync.fastapi.runtime import runtime_of

__all__ = [
    "ClerkUserScheme",
    "CurrentUser",
    "OptionalUser",
    "SessionDep",
    "get_current_user",
    "get_optional_user",
    "get_session",
]

#: Where a request (its ASGI scope) keeps its session and its user: whichever FastAPI resolves second binds them.
_SESSION = "clerk_sync.session"
_USER = "clerk_sync.user"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, the one ``CurrentUser`` is bound to; connecting is lazy, so routes that never
    query never touch the database."""
    store = runtime_of(request).store
    if not isinstance(store, AsyncSQLAlchemyStore):
        raise ConfigurationError("SessionDep needs a database: pass database_url= (or engine=) to ClerkSync")
    async with store.sessionmaker() as session:
        request.scope[_SESSION] = session
        user = request.scope.get(_USER)
        if user is not None:
            _bind(session, user)
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
"""The request's database session (the one ``CurrentUser`` is bound to)."""


def _bind(session: AsyncSession, user: Any) -> None:
    """Attach the (detached) user to the request's session without a query, unless it already holds that row."""
    key = sa_inspect(user).key
    if key is None or session.sync_session.identity_map.get(key) is None:
        session.add(user)


class ClerkUserScheme(ClerkScheme):
    """Calling it yields the app's user row for the verified token, created or updated as needed (or None when
    optional and no token was sent). One object, no sub-dependencies: FastAPI resolves ``CurrentUser`` in one
    step, and OpenAPI still documents the bearer scheme."""

    async def __call__(self, request: Request) -> ClerkUserMixin | None:
        known: ClerkUserMixin | None = request.scope.get(_USER)
        if known is not None:  # CurrentUser and OptionalUser in one request: one sync
            return known
        claims = await self.claims(request)
        if claims is None:
            return None
        user: ClerkUserMixin = await runtime_of(request).current_user(claims)
        request.scope[_USER] = user
        shared = request.scope.get(_SESSION)
        if shared is not None:
            _bind(shared, user)
        return user


get_current_user = ClerkUserScheme(required=True)
"""The app's user row for the verified token; 401 without one. Usable as a guard: ``Depends(get_current_user)``."""

get_optional_user = ClerkUserScheme(required=False)
"""The user row, or None for an anonymous request (a sent token must still verify)."""


CurrentUser = Annotated[ClerkUserMixin, Depends(get_current_user)]
"""The synced user row (the app's model instance). Apps with their own model may annotate
``Annotated[MyUser, Depends(get_current_user)]`` for precise typing."""

OptionalUser = Annotated[ClerkUserMixin | None, Depends(get_optional_user)]
"""The synced user row, or None for an anonymous request."""
