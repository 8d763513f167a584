"""Alembic environment for clerk-sync's own tables (the async template, adapted).

Run programmatically by ``clerk_sync.db.migrate``, which passes an open connection in
``config.attributes["connection"]``. Run by the ``alembic`` CLI (``-c`` pointing at a config whose
``script_location`` is this directory), it connects to ``sqlalchemy.url`` or ``DATABASE_URL`` itself.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from clerk_sync.db.engine import DEFAULT_DATABASE_URL
from clerk_sync.db.migrate import VERSION_TABLE, context_options
from clerk_sync.db.models import Base

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    return str(url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)


def run_migrations_offline() -> None:
    """Emit SQL for a DBA to review instead of connecting."""
    context.configure(
        url=_url(),
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the revisions on a synchronous facade of an async connection."""
    context.configure(connection=connection, **context_options(connection))
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """The CLI path: no connection was handed over, so open one (NullPool: one-shot process)."""
    engine = create_async_engine(_url(), poolclass=pool.NullPool, hide_parameters=True)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif (handed_over := config.attributes.get("connection")) is not None:
    do_run_migrations(handed_over)
else:
    asyncio.run(run_async_migrations())
