"""What the ASGI reference apps (FastAPI, Litestar) share to be served: uvicorn, one worker or several.

Framework-free, so a Litestar-only install serves Litestar without importing FastAPI.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from clerk_sync.service.serving import DEV_ENV, ServeOptions, alembic_upgrade
from clerk_sync.service.settings import ServiceSettings

__all__ = ["run_on_uvicorn"]


def run_on_uvicorn(factory: str, build: Callable[[], Any], options: ServeOptions) -> None:
    """Serve ``build()`` (one worker) or, with ``--workers N``, let each worker import ``factory`` and build its own."""
    import uvicorn

    os.environ[DEV_ENV] = "1" if options.dev else "0"
    common: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "log_level": "info",
        "access_log": options.access_log,
    }
    if options.workers == 1:
        uvicorn.run(build(), **common)
        return
    database_url = ServiceSettings().database_url
    if database_url.startswith("sqlite"):  # once here, so the workers' start-up migrations find nothing to race
        alembic_upgrade(database_url)
    # Each worker process imports and builds its own app; only an import string can cross that boundary.
    uvicorn.run(factory, factory=True, workers=options.workers, **common)
