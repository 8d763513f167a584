"""The user on the request path: one sync per request, bound to the request's database session if it has one.

A steady-state request (the row already matches the token) costs the store's one read (``store.read``, on the
driver where it can); only a first sight or a change runs ``store.sync``, which writes. When the route
also asks for ``SessionDep``, the user is attached to that session (no query), so changes the route makes to it
commit with the session.

``get_current_user`` is a module-level object, so FastAPI's per-request cache makes a router guard, the route
and any sub-dependency share a single sync. When the database fails, only routes that need a ``User`` answer 503
``database-unavailable``; routes that take ``Claims`` alone never touch it and keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from clerk_sync.claims import SessionClaims
from clerk_sync.db import ClerkUserMixin, SyncResult
from clerk_sync.errors import BackendAPIError, ConfigurationError
from clerk_sync.fastapi.deps import ClerkScheme
from clerk_sync.fastapi.runtime import ClerkRuntime, Database, runtime_of
from clerk_sync.metrics import SYNC_SECONDS
from clerk_sync.profile import Source

__all__ = [
    "ClerkUserScheme",
    "CurrentUser",
    "OptionalUser",
    "SessionDep",
    "get_current_user",
    "get_optional_user",
    "get_session",
    "require_database",
]

logger = logging.getLogger("clerk_sync")


def require_database(runtime: ClerkRuntime) -> Database:
    if runtime.database is None:
        raise ConfigurationError("CurrentUser needs a database: pass database_url= (or engine=) to ClerkSync")
    return runtime.database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, the one ``CurrentUser`` is bound to; connecting is lazy, so routes that never
    query never touch the database."""
    async with require_database(runtime_of(request)).sessionmaker() as session:
        request.scope[_SESSION] = session
        user = request.scope.get(_USER)
        if user is not None:
            _bind(session, user)
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
"""The request's database session (the one ``CurrentUser`` is bound to)."""

#: Where a request (its ASGI scope) keeps its session and its user: whichever FastAPI resolves second binds them.
_SESSION = "clerk_sync.session"
_USER = "clerk_sync.user"


async def _current_user(request: Request, runtime: ClerkRuntime, claims: SessionClaims) -> Any:
    """Steady state: one read on the driver, no session. A miss or a change: the full sync in a session."""
    store = require_database(runtime).store
    profile = runtime.mapping.to_profile(claims)
    started = time.perf_counter()
    result = await store.read(profile)
    if result is None:
        result = await store.sync(profile)
        if result.action == "created" and not profile.has_profile_data and runtime.backend is not None:
            result = await _fetch_first_sight(runtime, claims.sub, result)
    SYNC_SECONDS.observe(time.perf_counter() - started)
    user = result.user
    request.scope[_USER] = user
    shared = request.scope.get(_SESSION)
    if shared is not None:
        _bind(shared, user)
    return user


def _bind(session: AsyncSession, user: Any) -> None:
    """Attach the (detached) user to the request's session without a query, unless it already holds that row."""
    key = sa_inspect(user).key
    if key is None or session.sync_session.identity_map.get(key) is None:
        session.add(user)


async def _fetch_first_sight(runtime: ClerkRuntime, clerk_id: str, created: SyncResult[Any]) -> SyncResult[Any]:
    """Clerk's default token names the user and nothing more: fetch the profile once, on creation only.

    The fetch is a bonus, never a condition: an unreachable API, or a profile the row cannot hold (refused as a
    ``BackendAPIError``), leaves the user as created from the token, and the request goes on.
    """
    assert runtime.backend is not None
    try:
        profile = await runtime.backend.get_user_profile(
            clerk_id, source=Source.API, include_private_metadata=runtime.settings.include_private_metadata
        )
        if profile is None:
            return created
        return await require_database(runtime).store.sync(profile)
    except BackendAPIError as exc:  # the store's own session rolled back; ``created`` is untouched
        logger.warning("first-sight profile fetch failed for %s: %s", clerk_id, exc.message)
    return created


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
        user: ClerkUserMixin = await _current_user(request, runtime_of(request), claims)
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
