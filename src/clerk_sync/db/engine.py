"""Engine and session factories with the settings the sync engine relies on.

Only the service's lifespan (or the app's) calls these; everything else receives the engine or sessionmaker.
"""

from __future__ import annotations

import functools
import logging
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

__all__ = [
    "DEFAULT_DATABASE_URL",
    "READER_KEY",
    "SQLITE_BUSY_TIMEOUT_MS",
    "connect_args",
    "create_engine",
    "create_sessionmaker",
    "sqlite_reader",
]

#: One reader per engine, so every sessionmaker (and a statement counter) finds the same one.
_READERS: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()

#: The driver arguments each engine was created with, for connections made beside its pool (``UserReader``).
_CONNECT_ARGS: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()

#: The in-loop reader gives up on a lock after this long and lets the aiosqlite path wait instead.
READER_BUSY_TIMEOUT_MS = 20

#: Where a session finds the in-process SQLite reader (``session.info[READER_KEY]``), if its database has one.
READER_KEY = "clerk_sync.sqlite_reader"


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
    # A lock held elsewhere (a stuck admin session, a long backfill) must become a 503 well inside Svix's 15 s,
    # not an unanswered webhook: bound lock waits and statements on the server side.
    "connect_args": {"timeout": 5, "server_settings": {"lock_timeout": "5000", "statement_timeout": "10000"}},
}


#: Statement parameters are the user's email and names: with ``hide_parameters`` SQLAlchemy leaves them out of
#: its log lines (``echo``) and of every exception's text, so no failure puts personal data in a log or trace.
_ALL_DEFAULTS: dict[str, Any] = {"hide_parameters": True}


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; keyword arguments override our defaults and go to ``create_async_engine``."""
    backend = make_url(url).get_backend_name()
    options: dict[str, Any] = dict(_ALL_DEFAULTS)
    if backend == "postgresql":
        options.update(_POSTGRES_DEFAULTS)
    options.update(kwargs)
    engine = create_async_engine(url, **options)
    _CONNECT_ARGS[engine.sync_engine] = dict(options.get("connect_args", {}))
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        _hide_aiosqlite_arguments()
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


def connect_args(engine: AsyncEngine) -> dict[str, Any]:
    """The ``connect_args`` ``create_engine`` gave the driver (none for an engine built elsewhere)."""
    return dict(_CONNECT_ARGS.get(engine.sync_engine, {}))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit: the sync engine commits before returning the user.

    On an SQLite file the sessions also carry a synchronous reader for the steady-state lookup (see
    ``sqlite_reader``); it is disposed with ``engine``.
    """
    reader = sqlite_reader(engine)
    info = {READER_KEY: reader} if reader is not None else {}
    return async_sessionmaker(engine, expire_on_commit=False, info=info)


def sqlite_reader(engine: AsyncEngine) -> Engine | None:
    """The synchronous pysqlite engine on ``engine``'s SQLite file, for the one indexed read of a steady state.

    aiosqlite runs every statement on a helper thread, and the hand-off costs about 300 us per statement, many
    times the lookup itself (a few us on an indexed local file). In WAL mode a reader never waits for a writer,
    so reading in the event loop is cheaper than the thread hop and blocks nothing. Writes keep going through
    aiosqlite. Only file databases qualify: ``:memory:`` databases are private to one connection.
    """
    known = _READERS.get(engine.sync_engine)
    if known is not None:
        return known
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or "mode=memory" in str(url):
        return None
    # One connection: reads run to completion inside one event-loop step, so they never overlap, and a sync
    # pool that made the loop wait for a connection held by another coroutine would deadlock.
    reader = create_sync_engine(url.set(drivername="sqlite+pysqlite"), poolclass=StaticPool, hide_parameters=True)
    event.listen(reader, "connect", _configure_reader)
    event.listen(engine.sync_engine, "engine_disposed", lambda _engine: reader.dispose())
    _READERS[engine.sync_engine] = reader
    return reader


def _configure_reader(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    """As any connection, but never wait long for a lock in the event loop: fall back to aiosqlite instead."""
    _configure_sqlite(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={READER_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


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
