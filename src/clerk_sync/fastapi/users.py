"""The user on the request path: one sync per request, bound to the request's database session.

``get_current_user`` is a module-level function, so FastAPI's per-request cache makes a router guard, the route
and any sub-dependency share a single sync. When the database fails, only routes that need a ``User`` answer 503
``database-unavailable``; routes that take ``Claims`` alone never touch it and keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from clerk_sync.claims import SessionClaims
from clerk_sync.db import ClerkUserMixin, SyncResult
from clerk_sync.errors import BackendAPIError, ConfigurationError
from clerk_sync.fastapi.deps import RuntimeDep, get_claims, get_optional_claims
from clerk_sync.fastapi.runtime import ClerkRuntime, Database
from clerk_sync.metrics import SYNC_SECONDS
from clerk_sync.profile import Source

__all__ = [
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


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One session per request; connecting is lazy, so routes that never query never touch the database."""
    async with require_database(runtime).sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
"""The request's database session (the same one ``CurrentUser`` is bound to)."""


async def _sync(runtime: ClerkRuntime, session: AsyncSession, claims: SessionClaims) -> Any:
    users = require_database(runtime).users
    profile = runtime.mapping.to_profile(claims)
    started = time.perf_counter()
    result: SyncResult[Any] = await users.sync(session, profile)
    SYNC_SECONDS.observe(time.perf_counter() - started)
    if result.action == "created" and not profile.has_profile_data and runtime.backend is not None:
        result = await _fetch_first_sight(runtime, session, claims.sub, result)
    return result.user


async def _fetch_first_sight(
    runtime: ClerkRuntime, session: AsyncSession, clerk_id: str, created: SyncResult[Any]
) -> SyncResult[Any]:
    """Clerk's default token names the user and nothing more: fetch the profile once, on creation only."""
    assert runtime.backend is not None
    try:
        profile = await runtime.backend.get_user_profile(
            clerk_id, source=Source.API, include_private_metadata=runtime.settings.include_private_metadata
        )
    except BackendAPIError as exc:
        logger.warning("first-sight profile fetch failed for %s: %s", clerk_id, exc.message)
        return created
    if profile is None:
        return created
    return await require_database(runtime).users.sync(session, profile)


async def get_current_user(
    runtime: RuntimeDep, session: SessionDep, claims: Annotated[SessionClaims, Depends(get_claims)]
) -> ClerkUserMixin:
    """The app's user row for the verified token, created or updated as needed."""
    user: ClerkUserMixin = await _sync(runtime, session, claims)
    return user


async def get_optional_user(
    runtime: RuntimeDep, session: SessionDep, claims: Annotated[SessionClaims | None, Depends(get_optional_claims)]
) -> ClerkUserMixin | None:
    """The user row, or None for an anonymous request (a sent token must still verify)."""
    if claims is None:
        return None
    user: ClerkUserMixin = await _sync(runtime, session, claims)
    return user


CurrentUser = Annotated[ClerkUserMixin, Depends(get_current_user)]
"""The synced user row (the app's model instance). Apps with their own model may annotate
``Annotated[MyUser, Depends(get_current_user)]`` for precise typing."""

OptionalUser = Annotated[ClerkUserMixin | None, Depends(get_optional_user)]
"""The synced user row, or None for an anonymous request."""
