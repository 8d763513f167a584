"""The store's steady-state read: one prepared ``SELECT`` by ``clerk_id``, without building a ``QuerySet``.

Every synced request reads its user row once, and through the ORM that read costs more CPU than the query:
``filter(clerk_id=...)[:1]`` clones a ``Query``, resolves the lookup, compiles the SQL and looks up each column's
converters, on every request. ``RowReader`` does that work once per thread's connection and then runs the same
statement the ORM would (every concrete column, ``WHERE clerk_id = %s LIMIT 1``, the base manager's view: no
default-manager filter hides a tombstone) through the cursor wrapper ``connection.cursor()`` would give (around a
driver cursor it keeps), so Django's cursor wrappers still apply (``DatabaseError`` translation,
``execute_wrapper`` hooks, the debug cursor that counts queries). The row becomes a model instance through the
converters the ORM's compiler uses and ``Model.from_db``, so it is the instance the ORM would have returned: same
values, ``_state.db`` set, ``_state.adding`` False.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = ["RowReader"]

M = TypeVar("M", bound=models.Model)

_Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """The statement and per-column converters for one connection (converters are bound to its ``ops``)."""

    connection: BaseDatabaseWrapper
    sql: str
    key_field: Any
    converters: tuple[tuple[int, tuple[_Converter, ...], Any], ...]


class RowReader(Generic[M]):
    """Reads one ``model`` row by ``clerk_id`` on the ``using`` alias; share one across threads.

    Django gives each thread its own connection object, so the prepared statement is kept per thread and rebuilt
    when the thread's connection object changes (``connections`` reset by a test's ``override_settings``).
    """

    def __init__(self, model: type[M], using: str) -> None:
        self.model = model
        self.using = using
        fields = model._meta.concrete_fields
        self._fields = tuple(fields)
        self._attnames = [field.attname for field in fields]
        self._local = threading.local()

    def get(self, clerk_id: str) -> M | None:
        """The row whose ``clerk_id`` is ``clerk_id``, or None: one indexed read."""
        connection = connections[self.using]
        prepared: _Prepared | None = getattr(self._local, "prepared", None)
        if prepared is None or prepared.connection is not connection:
            prepared = self._local.prepared = self._prepare(connection)
        cursor = self._cursor(connection)
        cursor.execute(prepared.sql, (prepared.key_field.get_db_prep_value(clerk_id, connection),))
        row = cursor.fetchone()
        if row is None:
            return None
        return self._instance(prepared, row)

    def _cursor(self, connection: BaseDatabaseWrapper) -> Any:
        """What ``connection.cursor()`` returns (Django's wrapper: error translation, ``execute_wrappers``, the
        debug cursor), around one driver cursor kept per thread and driver connection: a new psycopg cursor
        per read cost about 40 us of CPU, a third of the read (4000 reads, process time)."""
        connection.close_if_health_check_failed()
        connection.ensure_connection()
        driver = connection.connection
        kept: tuple[Any, Any] | None = getattr(self._local, "cursor", None)
        with connection.wrap_database_errors:
            if kept is None or kept[0] is not driver:
                kept = self._local.cursor = (driver, connection.create_cursor())
        connection.validate_thread_sharing()  # what Django's _prepare_cursor does, with its public parts
        return connection.make_debug_cursor(kept[1]) if connection.queries_logged else connection.make_cursor(kept[1])

    def _instance(self, prepared: _Prepared, row: Sequence[Any]) -> M:
        values = list(row)
        connection = prepared.connection
        for index, converters, column in prepared.converters:
            value = values[index]
            for converter in converters:
                value = converter(value, column, connection)
            values[index] = value
        return self.model.from_db(self.using, self._attnames, values)

    def _prepare(self, connection: BaseDatabaseWrapper) -> _Prepared:
        """The ORM's ``SELECT`` for this model and connection, and the converters its compiler would apply."""
        qn = connection.ops.quote_name
        table = qn(self.model._meta.db_table)
        columns = ", ".join(f"{table}.{qn(field.column)}" for field in self._fields)
        key_field = next(field for field in self._fields if field.attname == "clerk_id")
        sql = f"SELECT {columns} FROM {table} WHERE {table}.{qn(key_field.column)} = %s LIMIT 1"  # noqa: S608
        converters = []
        for index, field in enumerate(self._fields):
            column = field.get_col(self.model._meta.db_table)
            found = (*connection.ops.get_db_converters(column), *column.get_db_converters(connection))
            if found:
                converters.append((index, tuple(found), column))
        return _Prepared(connection, sql, key_field, tuple(converters))
