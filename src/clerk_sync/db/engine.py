"""Engine and session factories with the settings the sync engine relies on.

Only the service's lifespan (or the app's) calls these; everything else receives the engine or sessionmaker.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["DEFAULT_DATABASE_URL", "SQLITE_BUSY_TIMEOUT_MS", "create_engine", "create_sessionmaker"]

#: An SQLite file in the working directory: the reference service runs with no database server.
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./clerk_sync.db"

#: How long an SQLite writer waits for the write lock; concurrent first requests queue on it instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# A request must fail fast (503) rather than hang for asyncpg's 60 s default when PostgreSQL is unreachable.
_POSTGRES_DEFAULTS: dict[str, Any] = {
    "pool_size": 10,
    "max_overflow": 10,
    "pool_timeout": 10,
    "pool_recycle": 1800,
    "pool_pre_ping": True,
    "connect_args": {"timeout": 5},
}


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; keyword arguments override our defaults and go to ``create_async_engine``."""
    backend = make_url(url).get_backend_name()
    options: dict[str, Any] = dict(_POSTGRES_DEFAULTS) if backend == "postgresql" else {}
    options.update(kwargs)
    engine = create_async_engine(url, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit: the sync engine commits before returning the user."""
    return async_sessionmaker(engine, expire_on_commit=False)


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers proceed during a write; busy_timeout makes writers wait instead of raising "locked"."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
