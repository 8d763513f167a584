"""Where a Litestar app keeps its running ``ClerkCore``.

The lifespan opens the core on an ``AsyncSQLAlchemyStore`` (a URL, or the app's own engine, e.g. Advanced
Alchemy's) and keeps it on ``app.state`` for the dependencies, the guard and the route handlers.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection

from clerk_sync.core import ClerkCore
from clerk_sync.errors import ConfigurationError

__all__ = ["STATE_KEY", "core_of"]

#: The ``app.state`` attribute holding the open core (the same name the FastAPI adapter uses).
STATE_KEY = "clerk_sync"


def core_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ClerkCore:
    """The app's open core; a clear error when the plugin is missing or its lifespan has not run."""
    core = getattr(connection.app.state, STATE_KEY, None)
    if not isinstance(core, ClerkCore):
        raise ConfigurationError("clerk-sync is not started: add ClerkSyncPlugin(...) to Litestar(plugins=[...])")
    return core
