"""Apply the packaged migrations programmatically, from async code, on the caller's engine.

The migrations ship inside the package (``clerk_sync/db/migrations``) so ``clerk-sync db upgrade`` works on an
installed wheel with no ``alembic.ini``. Alembic itself is synchronous; we hand it a connection through
``Config.attributes`` inside ``AsyncConnection.run_sync`` (Alembic's "programmatic API use with asyncio" recipe),
so upgrading never starts a second event loop and works inside a running one (an app's lifespan).
The version table has its own name so an app's own Alembic history can live in the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from clerk_sync.db.engine import create_engine
from clerk_sync.db.models import Base

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "context_options",
    "current_revisions",
    "head_revisions",
    "schema_diff",
    "upgrade",
    "upgrade_sync",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "clerk_sync_alembic_version"


def alembic_config(url: str | None = None) -> Config:
    """An in-memory Alembic config for the packaged migrations; ``url`` serves the ``alembic`` CLI path."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes["url"] = url  # not the ini option: configparser would choke on "%" in passwords
    return config


def context_options(connection: Connection) -> dict[str, Any]:
    """Options shared by ``env.py`` and the schema check, so both see the schema the same way.

    Batch mode on SQLite: it cannot ``ALTER`` most things, so Alembic recreates the table instead.
    """
    return {
        "target_metadata": Base.metadata,
        "version_table": VERSION_TABLE,
        "render_as_batch": connection.dialect.name == "sqlite",
        "compare_type": True,
    }


async def upgrade(target: str | AsyncEngine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL or an engine) to ``revision``."""
    async with _connect(target) as connection:
        await connection.run_sync(_run_upgrade, revision)


def upgrade_sync(engine: Engine, revision: str = "head") -> None:
    """``upgrade`` for a plain (WSGI) ``Engine``: the same revisions and version table, in one transaction."""
    with engine.begin() as connection:
        _run_upgrade(connection, revision)


def head_revisions() -> frozenset[str]:
    """The revisions this installed version of clerk-sync expects."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def current_revisions(target: str | AsyncEngine) -> frozenset[str]:
    """The revisions the database is at (empty before the first upgrade)."""
    async with _connect(target) as connection:
        return await connection.run_sync(_current_heads)


async def schema_diff(target: str | AsyncEngine) -> list[Any]:
    """What ``alembic check`` would report: operations autogenerate would emit (empty when models match)."""
    async with _connect(target) as connection:
        return await connection.run_sync(_compare)


def _run_upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current_heads(connection: Connection) -> frozenset[str]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return frozenset(context.get_current_heads())


def _compare(connection: Connection) -> list[Any]:
    options = context_options(connection)
    metadata = options.pop("target_metadata")
    return list(compare_metadata(MigrationContext.configure(connection, opts=options), metadata))


@asynccontextmanager
async def _connect(target: str | AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction on ``target``; an engine built from a URL is disposed afterwards."""
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        async with engine.begin() as connection:
            yield connection
    finally:
        if isinstance(target, str):
            await engine.dispose()
