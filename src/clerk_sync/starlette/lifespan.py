"""``clerk_lifespan``: open the ``ClerkCore`` with a Starlette app and keep it on ``app.state``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from clerk_sync.core import ClerkCore
from clerk_sync.db import AsyncSQLAlchemyStore, prepare_schema
from clerk_sync.keys import KeySet
from clerk_sync.settings import ClerkSettings
from clerk_sync.starlette.backend import STATE_KEY
from clerk_sync.store import AsyncUserStore

__all__ = ["clerk_lifespan"]


def clerk_lifespan(
    settings: ClerkSettings | None = None,
    *,
    database_url: str | None = None,
    engine: AsyncEngine | None = None,
    model: type[Any] | None = None,
    migrate: bool = False,
    key_set: KeySet | None = None,
    http: httpx.AsyncClient | None = None,
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """``Starlette(lifespan=clerk_lifespan(database_url=...))``: the core opens with the app and closes after.
    ``engine`` is the app's own (it stays the app's); ``migrate`` applies the packaged migrations at start."""
    store: AsyncUserStore[Any] | Callable[[], AsyncUserStore[Any]] | None = None
    if engine is not None:
        store = AsyncSQLAlchemyStore(engine, model)
    elif database_url is not None:
        store = partial(AsyncSQLAlchemyStore.from_url, database_url, model)
    ClerkCore(settings, store=None, key_set=key_set, http=http)  # fail at start when the key source cannot work

    @asynccontextmanager
    async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
        async with ClerkCore(settings, store=store, key_set=key_set, http=http) as core:
            await prepare_schema(core.store, migrate=migrate)  # or stop naming the missing table
            state = app.state  # type: ignore[attr-defined]
            setattr(state, STATE_KEY, core)
            try:
                yield
            finally:
                delattr(state, STATE_KEY)

    return lifespan
