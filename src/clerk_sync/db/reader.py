"""The async store's direct read: a user row by ``clerk_id`` on the driver itself, without a session.

A steady-state request only needs to know that the stored row already matches the token. Through an
``AsyncSession`` that read costs a pool checkout with pre-ping, a transaction begun and rolled back, the greenlet
bridge and the ORM load: about 500 us on PostgreSQL, several times the query. ``UserReader`` runs the same SELECT
(compiled once by SQLAlchemy, for the app's model) straight on the driver: a few asyncpg connections with
prepared statements and no reset round trip on PostgreSQL, the in-loop pysqlite connection on an SQLite file.
Values go through the dialect's own result processors, so they equal what the ORM would load.

Internal to ``AsyncSQLAlchemyStore.read``; it is an optimisation only. Any failure (database down, locked, a
driver it does not know) answers ``None``, and the store takes its session path, which reports the outage or does
the work. After a failure the reader stands aside (1 s, doubling up to a minute) so an outage does not cost every
request two attempts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Column, Engine, bindparam, event, select
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, StaticPool

from clerk_sync.db.engine import configure_sqlite

#: What a failed read on the PostgreSQL reader raises; the SQLite one adds ``sqlite3.Error``. asyncpg is imported
#: only when installed: ``[sqlite]`` without ``[postgres]`` only ever builds the SQLite reader.
_PG_READ_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError)
try:
    import asyncpg
except ModuleNotFoundError:
    pass
else:
    # InternalClientError: a connection the server terminated mid-protocol can leave asyncpg's state machine
    # refusing the next statement ("cannot switch to state 12; another operation is in progress"): it is the
    # same dead connection, so the session path answers (tests/faults/test_dropped_connections.py).
    _PG_READ_ERRORS += (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
_READ_ERRORS: tuple[type[BaseException], ...] = (*_PG_READ_ERRORS, sqlite3.Error)

__all__ = ["READER_POOL_SIZE", "Backoff", "UserQuery", "UserReader", "is_sqlite_file", "open_user_reader"]

_log = logging.getLogger(__name__)

#: Connections of the PostgreSQL reader pool per worker, as many as the engine's ``pool_size``. A read holds its
#: connection until the event loop gets round to the reply, so a busy worker holds several: with 4, wrk -c16
#: saw a 20-28 ms p99 (waits for a connection); with 8-16, 6-8 ms at the same rate (``bench.compare``).
READER_POOL_SIZE = 10

#: After a failed read the reader stands aside and lets the session path answer: 1 s, doubling while it keeps
#: failing (a reader that cannot connect while the engine can, say), up to a minute; one success resets it.
BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0

#: The in-loop SQLite reader gives up on a lock after this long and lets the store's session path wait instead.
READER_BUSY_TIMEOUT_MS = 20

#: Bound a reader connection attempt when the engine's ``connect_args`` set none (asyncpg waits 60 s).
CONNECT_TIMEOUT_S = 5.0

Row = Mapping[str, Any]
Trace = Callable[[str], None]


class _Driver(Protocol):
    async def fetch(self, sql: str, clerk_id: str) -> Sequence[Any] | None: ...

    def trace(self, callback: Trace) -> None: ...

    async def close(self) -> None: ...


class UserQuery:
    """The SELECT of one user row by ``clerk_id`` for ``model`` on ``dialect``, compiled once, and how a driver's
    record becomes ``{attribute: value}``: through the dialect's own result processors, as the ORM loads it."""

    def __init__(self, model: type[Any], dialect: Dialect) -> None:
        mapper = sa_inspect(model)
        columns = [
            (prop.key, prop.columns[0])
            for prop in mapper.column_attrs
            if not prop.deferred and len(prop.columns) == 1 and isinstance(prop.columns[0], Column)
        ]
        self.keys: tuple[str, ...] = tuple(key for key, _ in columns)
        statement = select(*(column for _, column in columns)).where(
            mapper.columns["clerk_id"] == bindparam("clerk_id")
        )
        self.compiled = statement.compile(dialect=dialect)
        self.sql = str(self.compiled)
        self._processors = [
            (index, processor)
            for index, (_, column) in enumerate(columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None)) is not None
        ]

    def row(self, record: Sequence[Any]) -> Row:
        """``record`` (the driver's values, in column order) as the ORM would load them."""
        values = list(record)
        for index, processor in self._processors:
            values[index] = processor(values[index])
        return dict(zip(self.keys, values, strict=True))


class Backoff:
    """After a failed read a reader stands aside and lets the session path answer: ``BACKOFF_S``, doubling
    while it keeps failing, up to ``MAX_BACKOFF_S``; one success resets it. One warning per outage."""

    def __init__(self) -> None:
        self._resume_at = 0.0
        self._failures = 0

    def ready(self) -> bool:
        """False while the reader stands aside."""
        return time.monotonic() >= self._resume_at

    def succeeded(self) -> None:
        self._failures = 0

    def failed(self, error: BaseException) -> None:
        delay = min(BACKOFF_S * 2**self._failures, MAX_BACKOFF_S)
        self._failures += 1
        self._resume_at = time.monotonic() + delay
        log = _log.warning if self._failures == 1 else _log.debug  # one warning per outage, not one per second
        log("user reader failed (%s); the session path answers for %.0f s", type(error).__name__, delay)


class UserReader:
    """Loads one user row as plain values (attribute key to value) for the app's model; see the module doc."""

    def __init__(self, model: type[Any], dialect: Dialect, driver: _Driver) -> None:
        self._query = UserQuery(model, dialect)
        self.keys = self._query.keys
        self.sql = self._query.sql
        self._driver = driver
        self._backoff = Backoff()

    async def fetch(self, clerk_id: str) -> Row | None:
        """The stored row as ``{attribute: value}``; raises ``LookupError`` when the row does not exist.

        Returns None when the reader cannot answer right now: the caller must then use its session.
        """
        if not self._backoff.ready():
            return None
        try:
            record = await self._driver.fetch(self.sql, clerk_id)
        except _READ_ERRORS as error:
            self._backoff.failed(error)
            return None
        self._backoff.succeeded()
        if record is None:
            raise LookupError(clerk_id)
        return self._query.row(record)

    def trace(self, callback: Trace) -> None:
        """Report every statement the driver runs from now on (tests, debugging)."""
        self._driver.trace(callback)

    async def close(self) -> None:
        await self._driver.close()


def open_user_reader(
    engine: AsyncEngine, model: type[Any], connect_args: Mapping[str, Any] | None = None
) -> UserReader | None:
    """A reader for ``model`` on ``engine``, or None where only the session path applies (e.g. ``:memory:``).

    ``connect_args`` are what the engine's driver was given (a store built by ``from_url`` knows them); without
    them the URL alone says how to connect. Opens no connection: a database that is down at start must not stop
    the app. ``close()`` releases what it opened, never ``engine``.
    """
    backend = engine.url.get_backend_name()
    if backend == "postgresql" and engine.dialect.driver == "asyncpg":
        return UserReader(model, engine.dialect, _AsyncpgDriver(engine, connect_args or {}))
    reader = _sqlite_reader(engine)
    if reader is not None:
        return UserReader(model, reader.dialect, _SqliteDriver(reader))
    return None


def _sqlite_reader(engine: AsyncEngine) -> Engine | None:
    """A synchronous pysqlite engine on ``engine``'s SQLite file, for the one indexed read of a steady state.

    aiosqlite runs every statement on a helper thread, and the hand-off costs about 300 us per statement, many
    times the lookup itself (a few us on an indexed local file). In WAL mode a reader never waits for a writer,
    so reading in the event loop is cheaper than the thread hop and blocks nothing. Writes keep going through
    aiosqlite. Only file databases qualify: ``:memory:`` databases are private to one connection.
    """
    url = engine.url
    if not is_sqlite_file(url):
        return None
    # One connection: reads run to completion inside one event-loop step, so they never overlap, and a sync
    # pool that made the loop wait for a connection held by another coroutine would deadlock.
    reader = create_sync_engine(url.set(drivername="sqlite+pysqlite"), poolclass=StaticPool, hide_parameters=True)
    event.listen(reader, "connect", _configure_reader)
    return reader


def is_sqlite_file(url: URL) -> bool:
    """Whether every connection to ``url`` opens the same SQLite file. An in-memory database (``:memory:``, a
    ``file::memory:`` URI, ``mode=memory``) is each connection's own: a reader's connection beside the pool's
    would open an empty one."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file::memory:"):
        return False
    return "mode=memory" not in str(url)


def _configure_reader(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    """As any connection, but never wait long for a lock in the event loop: fall back to the session instead."""
    configure_sqlite(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={READER_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


class _SqliteDriver:
    """The in-loop pysqlite connection (WAL: never waits on a writer); a lookup is a few microseconds."""

    def __init__(self, reader: Engine) -> None:
        self._reader = reader
        self._proxied: PoolProxiedConnection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._proxied is None:
            self._proxied = self._reader.raw_connection()
        connection = self._proxied.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        return connection

    async def fetch(self, sql: str, clerk_id: str) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._connection().execute(sql, (clerk_id,)).fetchone()
        return row

    def trace(self, callback: Trace) -> None:
        self._connection().set_trace_callback(callback)

    async def close(self) -> None:
        if self._proxied is not None:
            self._proxied.close()
            self._proxied = None
        self._reader.dispose()


class _AsyncpgDriver:
    """Up to ``READER_POOL_SIZE`` asyncpg connections beside the engine's pool: autocommit reads, a cached
    prepared statement, nothing to reset.

    Not ``asyncpg.Pool``: its acquire and release (proxy objects, reset hooks, inactivity timers) cost about
    20 us per read at 16 concurrent requests, as much as the query itself (45 vs 23 us of CPU per read, measured
    against this LIFO with a semaphore). A slot bounds the connections in use; a connection is opened only when
    none is idle, so at most ``READER_POOL_SIZE`` exist. A read that fails or is cancelled drops its connection
    (its protocol state is unknown); the next read opens a fresh one.
    """

    def __init__(self, engine: AsyncEngine, connect_args: Mapping[str, Any]) -> None:
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        kwargs = {"timeout": CONNECT_TIMEOUT_S, **connect_args, **kwargs}
        kwargs.pop("prepared_statement_name_func", None)  # SQLAlchemy's own options, not asyncpg's
        cache_size = kwargs.pop("prepared_statement_cache_size", None)
        if cache_size is not None:
            kwargs["statement_cache_size"] = cache_size
        self._connect_args = (args, kwargs)
        self._deserialize: Callable[[str], Any] = getattr(engine.dialect, "_json_deserializer", None) or json.loads
        self._traces: list[Trace] = []
        self._slots = asyncio.Semaphore(READER_POOL_SIZE)
        self._idle: list[asyncpg.Connection] = []
        self._closed = False

    async def _open(self) -> asyncpg.Connection:
        args, kwargs = self._connect_args
        connection: asyncpg.Connection = await asyncpg.connect(*args, **kwargs)
        try:
            # Decode JSON as the engine's dialect does, so the dialect's result processors apply unchanged.
            for name in ("json", "jsonb"):
                await connection.set_type_codec(
                    name, encoder=json.dumps, decoder=self._deserialize, schema="pg_catalog", format="text"
                )
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def fetch(self, sql: str, clerk_id: str) -> Sequence[Any] | None:
        async with self._slots:
            connection = self._take_idle() or await self._open()
            for callback in self._traces:  # asyncpg's own query loggers run later (call_soon): report here
                callback(sql)
            try:
                record: Sequence[Any] | None = await connection.fetchrow(sql, clerk_id)
            except BaseException:
                connection.terminate()
                raise
            if self._closed or connection.is_closed():
                connection.terminate()
            else:
                self._idle.append(connection)
            return record

    def _take_idle(self) -> asyncpg.Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():  # the server may have closed it (restart, idle timeout)
                return connection
        return None

    def trace(self, callback: Trace) -> None:
        self._traces.append(callback)

    async def close(self) -> None:
        self._closed = True  # connections in use are dropped when their read ends
        idle, self._idle = self._idle, []
        for connection in idle:
            try:
                await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT_S)
            except _PG_READ_ERRORS:
                connection.terminate()
