"""Which reference app ``clerk-sync serve --framework NAME`` runs, and how: one module per framework.

Each framework's server module exposes three functions, so the CLI stays framework-free and an adapter joins
by adding one line to ``FRAMEWORKS``:

- ``validate(dev)``: build the app once in the CLI's process, so a configuration that cannot work stops the
  command with one line before any server or worker starts;
- ``run(options)``: serve it on a production-grade server (uvicorn, gunicorn), blocking until stopped;
- ``upgrade(database_url)``: bring ``DATABASE_URL`` to the latest schema (Alembic, or Django's migrations).
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Protocol, cast

from clerk_sync.errors import ConfigurationError

__all__ = ["DEV_ENV", "FRAMEWORKS", "FrameworkServer", "ServeOptions", "alembic_upgrade", "server_for"]

#: framework name -> (the pip extra it needs, the module serving its reference app)
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "fastapi": ("fastapi", "clerk_sync.service.fastapi_server"),
    "django": ("django", "clerk_sync.service.django_server"),
    "flask": ("flask", "clerk_sync.service.flask_server"),
    "litestar": ("litestar", "clerk_sync.service.litestar_server"),
}

#: How ``serve --dev`` reaches worker processes, which build the app themselves. ``serve`` always sets it, so a
#: value left in the environment never turns development mode on by itself.
DEV_ENV = "CLERK_SYNC_SERVE_DEV"


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    dev: bool = False
    workers: int = 1
    access_log: bool = True


class FrameworkServer(Protocol):
    def validate(self, dev: bool) -> None: ...

    def run(self, options: ServeOptions) -> None: ...

    def upgrade(self, database_url: str) -> None: ...


def server_for(name: str, *, serving: bool = True) -> FrameworkServer:
    """The server module of ``name``; a ``ConfigurationError`` naming the choices or the missing extra."""
    if name not in FRAMEWORKS:
        raise ConfigurationError(f"--framework {name}: unknown; choose one of {', '.join(FRAMEWORKS)}")
    extra, module = FRAMEWORKS[name]
    if serving and importlib.util.find_spec(extra) is None:
        raise ConfigurationError(f"--framework {name} needs its extra: pip install 'clerk-sync[{extra}]'")
    return cast(FrameworkServer, importlib.import_module(module))


def alembic_upgrade(database_url: str) -> None:
    """The packaged Alembic migrations on ``database_url``: the schema of every SQLAlchemy-backed reference app."""
    import asyncio

    from clerk_sync.db import upgrade

    asyncio.run(upgrade(database_url))
