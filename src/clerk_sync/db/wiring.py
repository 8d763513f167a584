"""The store option the ASGI adapters hand ``ClerkCore``, from what an app configures: an engine or a URL.

The rule of ownership lives here once: an app's engine stays the app's (the store uses it and never disposes
it), while a URL becomes a factory, so the core makes the store when it opens and closes it with itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from clerk_sync.db.store import AsyncSQLAlchemyStore
from clerk_sync.store import AsyncUserStore

__all__ = ["async_store_option"]


def async_store_option(
    database_url: str | None, engine: AsyncEngine | None, model: type[Any] | None, options: Mapping[str, Any]
) -> AsyncUserStore[Any] | Callable[[], AsyncUserStore[Any]] | None:
    """An ``AsyncSQLAlchemyStore`` on ``engine``, a factory for one on ``database_url``, or None for neither."""
    if engine is not None:
        return AsyncSQLAlchemyStore(engine, model, **options)
    if database_url is not None:
        return partial(AsyncSQLAlchemyStore.from_url, database_url, model, **options)
    return None
