"""Verified claims to the app's user row: the read, the first-sight fetch and the sync, once for every adapter.

A steady-state request is the store's ``read`` alone (one indexed read, no write). A miss or a change runs
``sync``. A user created from Clerk's default token, which names the user and nothing more, is fetched once
from the Backend API when a secret key is configured: on creation only, never on every request, and never as
a condition (an unreachable API leaves the row as the token created it, and the request goes on).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from clerk_sync.backend_api import BackendAPI, SyncBackendAPI
from clerk_sync.claims import SessionClaims
from clerk_sync.errors import BackendAPIError, ConfigurationError
from clerk_sync.mapping import ClaimMapping
from clerk_sync.metrics import SYNC_SECONDS
from clerk_sync.profile import Source, UserProfile
from clerk_sync.store import AsyncUserStore, SyncResult, UserStore

__all__ = ["SyncUserResolver", "UserResolver"]

logger = logging.getLogger("clerk_sync")


def _no_store() -> ConfigurationError:
    return ConfigurationError("The current user needs a user store: configure a database (DATABASE_URL)")


class _ResolverBase:
    def __init__(self, mapping: ClaimMapping | None, *, include_private_metadata: bool) -> None:
        self.mapping = mapping or ClaimMapping()
        self._include_private_metadata = include_private_metadata

    def _wants_fetch(self, result: SyncResult[Any], profile: UserProfile, backend: object | None) -> bool:
        return result.action == "created" and not profile.has_profile_data and backend is not None


def _fetch_failed(clerk_id: str, exc: BackendAPIError) -> None:
    logger.warning("first-sight profile fetch failed for %s: %s", clerk_id, exc.message)


class UserResolver(_ResolverBase):
    """The user for verified claims, on an ``AsyncUserStore`` (and an async ``BackendAPI`` for first sight)."""

    def __init__(
        self,
        store: AsyncUserStore[Any] | None,
        mapping: ClaimMapping | None = None,
        backend: BackendAPI | None = None,
        *,
        include_private_metadata: bool = False,
    ) -> None:
        super().__init__(mapping, include_private_metadata=include_private_metadata)
        self.store = store
        self.backend = backend

    async def current_user(self, claims: SessionClaims) -> Any:
        """The synced row; ``UserDeletedError`` for a tombstone, ``DatabaseUnavailableError`` on an outage."""
        if self.store is None:
            raise _no_store()
        profile = self.mapping.to_profile(claims)
        started = time.perf_counter()
        result = await self.store.read(profile)
        if result is None:
            result = await self.store.sync(profile)
            if self._wants_fetch(result, profile, self.backend):
                result = await self._first_sight(claims.sub, result)
        SYNC_SECONDS.observe(time.perf_counter() - started)
        return result.user

    async def _first_sight(self, clerk_id: str, created: SyncResult[Any]) -> SyncResult[Any]:
        assert self.store is not None
        assert self.backend is not None
        try:
            profile = await self.backend.get_user_profile(
                clerk_id, source=Source.API, include_private_metadata=self._include_private_metadata
            )
            return created if profile is None else await self.store.sync(profile)
        except BackendAPIError as exc:  # an unstorable answer is refused as one too (``profile.refusal``)
            _fetch_failed(clerk_id, exc)
            return created


class SyncUserResolver(_ResolverBase):
    """``UserResolver`` for synchronous apps, on a ``UserStore`` and a ``SyncBackendAPI``."""

    def __init__(
        self,
        store: UserStore[Any] | None,
        mapping: ClaimMapping | None = None,
        backend: SyncBackendAPI | None = None,
        *,
        include_private_metadata: bool = False,
    ) -> None:
        super().__init__(mapping, include_private_metadata=include_private_metadata)
        self.store = store
        self.backend = backend

    def current_user(self, claims: SessionClaims) -> Any:
        """The synced row; ``UserDeletedError`` for a tombstone, ``DatabaseUnavailableError`` on an outage."""
        if self.store is None:
            raise _no_store()
        profile = self.mapping.to_profile(claims)
        started = time.perf_counter()
        result = self.store.read(profile)
        if result is None:
            result = self.store.sync(profile)
            if self._wants_fetch(result, profile, self.backend):
                result = self._first_sight(claims.sub, result)
        SYNC_SECONDS.observe(time.perf_counter() - started)
        return result.user

    def _first_sight(self, clerk_id: str, created: SyncResult[Any]) -> SyncResult[Any]:
        assert self.store is not None
        assert self.backend is not None
        try:
            profile = self.backend.get_user_profile(
                clerk_id, source=Source.API, include_private_metadata=self._include_private_metadata
            )
            return created if profile is None else self.store.sync(profile)
        except BackendAPIError as exc:
            _fetch_failed(clerk_id, exc)
            return created
