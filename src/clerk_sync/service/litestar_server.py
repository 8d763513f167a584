"""``clerk-sync serve --framework litestar``: the Litestar reference app on uvicorn (see ``serving``)."""

from __future__ import annotations

import asyncio
import os

from litestar import Litestar

from clerk_sync.service.litestar_app import create_app
from clerk_sync.service.serving import DEV_ENV, ServeOptions
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import load_settings

__all__ = ["run", "service_app", "upgrade", "validate"]


def service_app() -> Litestar:
    """The reference service as one worker builds it (uvicorn's factory form, for ``--workers N``)."""
    return create_app(ServiceSettings(), load_settings(), dev=os.environ.get(DEV_ENV) == "1")


def validate(dev: bool) -> None:
    create_app(ServiceSettings(), load_settings(), dev=dev)


def upgrade(database_url: str) -> None:
    from clerk_sync.db import upgrade as alembic_upgrade

    asyncio.run(alembic_upgrade(database_url))


def run(options: ServeOptions) -> None:
    import uvicorn

    os.environ[DEV_ENV] = "1" if options.dev else "0"
    common = {"host": options.host, "port": options.port, "log_level": "info", "access_log": options.access_log}
    if options.workers == 1:
        uvicorn.run(service_app(), **common)  # type: ignore[arg-type]
        return
    database_url = ServiceSettings().database_url
    if database_url.startswith("sqlite"):  # once here, so the workers' start-up migrations find nothing to race
        upgrade(database_url)
    # Each worker process imports and builds its own app; only an import string can cross that boundary.
    uvicorn.run(f"{__name__}:service_app", factory=True, workers=options.workers, **common)  # type: ignore[arg-type]
