"""Where a Litestar app keeps its running ``ClerkCore``, and how the plugin builds one from its options.

The lifespan opens the core on an ``AsyncSQLAlchemyStore`` (a URL, or the app's own engine, e.g. Advanced
Alchemy's) and keeps it on ``app.state`` for the dependencies, the guard and the route handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from litestar.connection import ASGIConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from clerk_sync.core import ClerkCore
from clerk_sync.db import AsyncSQLAlchemyStore
from clerk_sync.errors import ConfigurationError
from clerk_sync.store import AsyncUserStore

__all__ = ["STATE_KEY", "build_store", "core_of"]

#: The ``app.state`` attribute holding the open core (the same name the FastAPI adapter uses).
STATE_KEY = "clerk_sync"


def build_store(
    database_url: str | None, engine: AsyncEngine | None, model: type[Any] | None, options: dict[str, Any]
) -> AsyncUserStore[Any] | Callable[[], AsyncUserStore[Any]] | None:
    """The core's store option: the app's engine stays the app's; a URL becomes a factory the core closes."""
    if engine is not None:
        return AsyncSQLAlchemyStore(engine, model, **options)
    if database_url is not None:
        return partial(AsyncSQLAlchemyStore.from_url, database_url, model, **options)
    return None


def core_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ClerkCore:
    """The app's open core; a clear error when the plugin is missing or its lifespan has not run."""
    core = getattr(connection.app.state, STATE_KEY, None)
    if not isinstance(core, ClerkCore):
        raise ConfigurationError("clerk-sync is not started: add ClerkSyncPlugin(...) to Litestar(plugins=[...])")
    return core
