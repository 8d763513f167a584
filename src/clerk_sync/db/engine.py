"""Engine and session factories with the settings the stores rely on.

Only a store (``from_url``) or the app's own start-up calls these; everything else receives a store.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from clerk_sync.settings import DEFAULT_DATABASE_URL  # re-exported: every framework's default

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SQLITE_BUSY_TIMEOUT_MS",
    "configure_sqlite",
    "create_engine",
    "create_sessionmaker",
    "create_sync_engine_for",
    "engine_options",
    "sync_url",
]


#: How long an SQLite writer waits for the write lock; concurrent first requests queue on it instead of failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000

# A request must fail fast (503) rather than hang for the driver's default when PostgreSQL is unreachable.
_POSTGRES_POOL: dict[str, Any] = {
    "pool_size": 10,
    "max_overflow": 10,
    "pool_timeout": 10,
    "pool_recycle": 1800,
    "pool_pre_ping": True,
}

# A lock held elsewhere (a stuck admin session, a long backfill) must become a 503 well inside Svix's 15 s, not an
# unanswered webhook: bound lock waits and statements on the server side. Each driver spells it its own way.
_ASYNCPG_CONNECT: dict[str, Any] = {
    "timeout": 5,
    "server_settings": {"lock_timeout": "5000", "statement_timeout": "10000"},
}
_PSYCOPG_CONNECT: dict[str, Any] = {"connect_timeout": 5, "options": "-c lock_timeout=5000 -c statement_timeout=10000"}

#: Statement parameters are the user's email and names: with ``hide_parameters`` SQLAlchemy leaves them out of
#: its log lines (``echo``) and of every exception's text, so no failure puts personal data in a log or trace.
_ALL_DEFAULTS: dict[str, Any] = {"hide_parameters": True}


def engine_options(url: str | URL, **kwargs: Any) -> dict[str, Any]:
    """Our defaults for ``url``'s backend and driver, overridden by ``kwargs`` (what ``create_engine`` passes on).

    A store built from a URL keeps these, so connections it opens beside the pool get the same ``connect_args``.
    """
    parsed = make_url(url)
    options: dict[str, Any] = dict(_ALL_DEFAULTS)
    if parsed.get_backend_name() == "postgresql":
        options.update(_POSTGRES_POOL)
        if parsed.get_driver_name() == "asyncpg":
            options["connect_args"] = dict(_ASYNCPG_CONNECT)
        elif parsed.get_driver_name() == "psycopg":
            options["connect_args"] = dict(_PSYCOPG_CONNECT)
    options.update(kwargs)
    return options


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; keyword arguments override our defaults and go to ``create_async_engine``."""
    engine = create_async_engine(url, **engine_options(url, **kwargs))
    if engine.url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", configure_sqlite)
        _hide_aiosqlite_arguments()
    return engine


def sync_url(url: str | URL) -> URL:
    """The synchronous twin of a database URL: ``postgresql+asyncpg`` (or bare ``postgresql``) becomes psycopg
    (v3), ``sqlite+aiosqlite`` becomes pysqlite, so one ``DATABASE_URL`` serves async and sync stores alike."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.get_driver_name() in ("asyncpg", "psycopg2", "postgresql"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.get_driver_name() == "aiosqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    return parsed


def create_sync_engine_for(url: str | URL, **kwargs: Any) -> Engine:
    """A synchronous engine (WSGI apps, the sync store) on ``url``'s database, with the same defaults."""
    target = sync_url(url)
    engine = create_sync_engine(target, **engine_options(target, **kwargs))
    if target.get_backend_name() == "sqlite":
        event.listen(engine, "connect", configure_sqlite)
    return engine


class _CallNamesOnly(logging.Filter):
    """aiosqlite logs every call it hands its thread at DEBUG, with the call's arguments: a statement's
    parameters (emails, names) included. The records stay, naming the call (``Cursor.execute``) only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_call_name(arg) if callable(arg) else arg for arg in record.args)
        return True


_AIOSQLITE_FILTER = _CallNamesOnly()


def _hide_aiosqlite_arguments() -> None:
    logger = logging.getLogger("aiosqlite")
    if _AIOSQLITE_FILTER not in logger.filters:
        logger.addFilter(_AIOSQLITE_FILTER)


def _call_name(call: Any) -> str:
    while isinstance(call, functools.partial):
        call = call.func
    return str(getattr(call, "__qualname__", type(call).__name__))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit: a store commits before returning the user."""
    return async_sessionmaker(engine, expire_on_commit=False)


def configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers proceed during a write; busy_timeout makes writers wait instead of raising "locked"."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
