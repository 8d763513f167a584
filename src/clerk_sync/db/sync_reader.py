"""The sync store's direct read: a user row by ``clerk_id`` on a thread's own DBAPI connection, without a session.

Through a ``Session`` the steady-state read of a WSGI request costs a pool checkout with ``pool_pre_ping`` (a
second round trip to PostgreSQL), a transaction begun, a rollback on return and the ORM load: the profile of the
Flask reference app put most of ``GET /me`` there. ``SyncUserReader`` runs the same SELECT (``UserQuery``: compiled
once for the app's model, values through the dialect's result processors) on one autocommit connection per request
thread, kept open: one round trip, and psycopg prepares the statement on the server after a few executions.

Each thread's connection is checked out of the engine's pool once and detached from it (``detach()``): it was
opened by the engine's own creator and connect events (``connect_args``, timeouts, the dialect's set-up), but it
no longer counts against ``pool_size``, so the session path (writes, fallbacks) never waits for a reader. A
thread never uses another thread's connection.

Internal to ``SQLAlchemyStore.read``; an optimisation only, on PostgreSQL and on an SQLite file. SQLite has no
round trip to save, but the session path's CPU is the same (checkout, begin, ORM load, rollback): most of a Flask
``GET /me`` on SQLite, measured in-process. An SQLite connection in autocommit holds no read transaction between
requests, so each read sees the latest commit of any writer. An in-memory SQLite database is one connection's own,
so it keeps the session path. Any failure answers ``None`` and the store takes its session path, which reports an
outage as ``DatabaseUnavailableError`` or does the work. A connection that fails (a restarted server, a terminated
backend) is dropped and the read retried once on a fresh one, so a dropped connection costs no error at all; if
that fails too the reader stands aside (``Backoff``) so an outage does not cost every request two attempts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection

from clerk_sync.db.reader import Backoff, Row, UserQuery, is_sqlite_file

__all__ = ["SyncUserReader", "open_sync_user_reader"]

Trace = Callable[[str], None]

#: The drivers whose connections take ``AUTOCOMMIT`` and whose cursors take the compiled parameters as is.
_DRIVERS = frozenset({("postgresql", "psycopg"), ("postgresql", "psycopg2"), ("sqlite", "pysqlite")})


class SyncUserReader:
    """Loads one user row as ``{attribute: value}`` on the calling thread's own connection; share one per store."""

    def __init__(self, engine: Engine, model: type[Any]) -> None:
        self._engine = engine
        self._query = UserQuery(model, engine.dialect)
        self.sql = self._query.sql
        compiled = self._query.compiled
        self._positional: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._errors: tuple[type[BaseException], ...] = (
            engine.dialect.loaded_dbapi.Error,
            sa_exc.SQLAlchemyError,
            OSError,
        )
        self._backoff = Backoff()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: set[DBAPIConnection] = set()  # every open one, so ``close`` reaches other threads'
        self._traces: list[Trace] = []
        self._closed = False

    def fetch(self, clerk_id: str) -> Row | None:
        """The stored row as ``{attribute: value}``; raises ``LookupError`` when the row does not exist.

        Returns None when the reader cannot answer right now: the caller must then use its session.
        """
        if self._closed or not self._backoff.ready():
            return None
        connection: DBAPIConnection | None = getattr(self._local, "connection", None)
        try:
            if connection is not None:
                try:
                    record = self._execute(clerk_id)
                except self._errors:  # a connection that worked before: the server may have dropped it
                    self._drop(connection)
                    connection = None
            if connection is None:
                connection = self._open()
                try:
                    record = self._execute(clerk_id)
                except BaseException:
                    self._drop(connection)
                    raise
        except self._errors as error:
            self._backoff.failed(error)
            return None
        self._backoff.succeeded()
        if record is None:
            raise LookupError(clerk_id)
        return self._query.row(record)

    def _execute(self, clerk_id: str) -> Sequence[Any] | None:
        params = {"clerk_id": clerk_id}
        for callback in self._traces:
            callback(self.sql)
        cursor = self._local.cursor  # opened with the thread's connection (``_open``)
        cursor.execute(self.sql, params if self._positional is None else tuple(params[k] for k in self._positional))
        record: Sequence[Any] | None = cursor.fetchone()
        return record

    def _open(self) -> DBAPIConnection:
        """The engine's own kind of connection (creator, connect events), detached from its pool, autocommit."""
        proxied = self._engine.raw_connection()
        connection = proxied.dbapi_connection
        assert connection is not None
        proxied.detach()
        try:
            connection.rollback()  # the checkout's pre-ping may have begun one
            self._engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")  # no transaction left open
            # One cursor for the connection's life: a new psycopg cursor per read cost about 40 us of CPU, a
            # third of the read (raw psycopg, same SELECT, 4000 reads, process time).
            cursor = connection.cursor()
        except BaseException:
            connection.close()
            raise
        with self._lock:
            closed = self._closed
            if not closed:
                self._connections.add(connection)
        if closed:
            connection.close()
            raise sa_exc.InvalidRequestError("the reader is closed")
        self._local.connection = connection
        self._local.cursor = cursor
        return connection

    def _drop(self, connection: DBAPIConnection) -> None:
        self._local.connection = self._local.cursor = None
        with self._lock:
            self._connections.discard(connection)
        with suppress(Exception):
            connection.close()

    def trace(self, callback: Trace) -> None:
        """Report every statement the reader runs from now on (tests, debugging)."""
        self._traces.append(callback)

    def close(self) -> None:
        """Close every thread's connection; reads after this answer None (the session path)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, set()
        for connection in connections:
            with suppress(Exception):
                connection.close()


def open_sync_user_reader(engine: Engine, model: type[Any]) -> SyncUserReader | None:
    """A reader for ``model`` on ``engine``, or None where only the session path applies. Opens no connection."""
    backend = engine.url.get_backend_name()
    if (backend, engine.dialect.driver) not in _DRIVERS:
        return None
    if backend == "sqlite" and not is_sqlite_file(engine.url):
        return None
    return SyncUserReader(engine, model)
