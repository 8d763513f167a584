"""``ClerkSync``: the FastAPI app's handle on the core's composition root (``clerk_sync.core.ClerkCore``).

An app writes ``clerk = ClerkSync(database_url=..., model=User)`` and ``FastAPI(lifespan=clerk.lifespan)``. The
lifespan opens a ``ClerkCore`` on an ``AsyncSQLAlchemyStore`` and keeps it on ``app.state``, where the
dependencies find it, so tests can swap any piece.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from clerk_sync.core import ClerkCore
from clerk_sync.db import async_store_option, prepare_schema
from clerk_sync.errors import ConfigurationError
from clerk_sync.keys import KeySet
from clerk_sync.mapping import ClaimMapping
from clerk_sync.settings import ClerkSettings, load_settings
from clerk_sync.store import AsyncSyncHook, SyncHook

__all__ = ["ClerkRuntime", "ClerkSync", "get_runtime", "runtime_of"]

STATE_KEY = "clerk_sync"

#: What the dependencies find on ``app.state``: the running core.
ClerkRuntime = ClerkCore


class ClerkSync:
    """Configure clerk-sync for a FastAPI app; ``lifespan`` opens and closes the core.

    ``database_url`` (or an ``engine``) enables ``CurrentUser``; ``model`` is the app's user class built on
    ``ClerkUserMixin`` (default: ``clerk_sync.db.User``); ``migrate`` applies the packaged migrations at start.
    ``freeze_gc=True`` moves start-up objects out of the garbage collector's scans (``gc.freeze``), which removed
    ~70 ms p99 stalls in ``bench.compare``; it is process-wide, so it is off unless the app asks (the reference
    service does). ``direct_reads=False`` sends the steady-state read through the engine's sessions instead of
    the driver (``AsyncSQLAlchemyStore``), e.g. for an engine with a custom ``creator``.
    Settings default to the ``CLERK_*`` environment; a bad variable is reported in one line naming it.
    """

    def __init__(
        self,
        settings: ClerkSettings | None = None,
        *,
        database_url: str | None = None,
        engine: AsyncEngine | None = None,
        model: type[Any] | None = None,
        migrate: bool = False,
        mapping: ClaimMapping | None = None,
        key_set: KeySet | None = None,
        http: httpx.AsyncClient | None = None,
        on_user_created: SyncHook | AsyncSyncHook | None = None,
        on_user_updated: SyncHook | AsyncSyncHook | None = None,
        on_user_deleted: SyncHook | AsyncSyncHook | None = None,
        freeze_gc: bool = False,
        direct_reads: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.mapping = mapping or ClaimMapping()
        self._key_set = key_set
        self._http = http
        self._migrate = migrate
        self._freeze_gc = freeze_gc
        self._database = (database_url, engine)
        self._store_options: dict[str, Any] = {
            "on_user_created": on_user_created,
            "on_user_updated": on_user_updated,
            "on_user_deleted": on_user_deleted,
            "direct_reads": direct_reads,
        }
        self._model = model

    def validate(self) -> None:
        """Fail at start, with one line naming the variable, when the key source cannot work."""
        self._core()

    def _core(self) -> ClerkCore:
        store = async_store_option(*self._database, self._model, self._store_options)
        return ClerkCore(self.settings, store=store, key_set=self._key_set, http=self._http, mapping=self.mapping)

    @asynccontextmanager
    async def runtime(self) -> AsyncIterator[ClerkCore]:
        """The open core outside FastAPI (CLI, scripts); closes what it opened."""
        async with self._core() as core:
            await prepare_schema(core.store, migrate=self._migrate)  # or stop naming the missing table
            yield core

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """FastAPI lifespan: the core lives on ``app.state`` while the app runs."""
        async with self.runtime() as core:
            setattr(app.state, STATE_KEY, core)
            if self._freeze_gc:  # start-up objects live as long as the app: keep them out of full collections
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                delattr(app.state, STATE_KEY)


def runtime_of(request: Request) -> ClerkCore:
    """The app's core; a clear error if the app forgot ``lifespan=clerk.lifespan``."""
    core = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(core, ClerkCore):
        raise ConfigurationError("clerk-sync is not started: pass lifespan=ClerkSync(...).lifespan to FastAPI")
    return core


async def get_runtime(request: Request) -> ClerkCore:
    """``runtime_of`` as a dependency. Async on purpose: FastAPI runs a plain ``def`` dependency on a worker
    thread, and that hand-off cost more than the rest of a verify-only request (measured: 3.8k -> 5.8k req/s)."""
    return runtime_of(request)
