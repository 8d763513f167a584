"""The store's writes, each ONE ``INSERT ... ON CONFLICT`` statement, compiled for the connection's database.

Django's ``bulk_create(update_conflicts=True)`` writes ``ON CONFLICT DO UPDATE`` without a ``WHERE``, and the
guard is the point: the unique ``clerk_id`` turns a burst of concurrent first requests into one insert and N
no-op updates, and the guard (``WHERE`` of ``DO UPDATE``) re-checks the ordering rules in the database, so they
hold even when two writers raced past the store's read. It is the same statement ``clerk_sync.db.upsert``
builds with SQLAlchemy. Identifiers go through ``connection.ops.quote_name`` and every value is a parameter
prepared by its own field (``get_db_prep_save``), never formatted into the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper

from clerk_sync.errors import ConfigurationError

__all__ = ["Statement", "from_row", "ledger_insert", "tombstone", "upsert"]

M = TypeVar("M", bound=models.Model)

#: PostgreSQL and SQLite (3.35+ for ``RETURNING``) both have ``INSERT ... ON CONFLICT``; others do not.
_VENDORS = frozenset({"postgresql", "sqlite"})


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL text with ``%s`` placeholders and its parameters, in order."""

    sql: str
    params: tuple[Any, ...]


def upsert(
    model: type[models.Model],
    connection: BaseDatabaseWrapper,
    *,
    clerk_id: str,
    version: int | None,
    values: Mapping[str, Any],
    now: datetime,
) -> Statement:
    """Insert the user, or update exactly the carried columns if the guard allows; ``RETURNING`` the row if written.

    ``created_at`` is bound to ``now`` only on insert, so a returned row whose ``created_at == now`` was inserted
    by this statement. Without carried values (a row from ``sub`` alone) there is nothing to update: the guard
    is then ``DO NOTHING``.
    """
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    insert, params = _insert(
        model,
        connection,
        {"clerk_id": clerk_id, "clerk_version": version, "created_at": now, "updated_at": now, **values},
    )
    if not values:
        return Statement(f"{insert} ON CONFLICT ({qn('clerk_id')}) DO NOTHING {_returning(model, connection)}", params)
    carried = [qn(_column(model, key)) for key in values]
    version_column, updated = qn("clerk_version"), qn("updated_at")
    assignments = [f"{column} = EXCLUDED.{column}" for column in carried]
    assignments += [f"{version_column} = EXCLUDED.{version_column}", f"{updated} = %s"]
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"  # SQLite's IS NOT is null-safe
    differs = " OR ".join(f"{table}.{column} {distinct} EXCLUDED.{column}" for column in carried)
    guard = (
        f"{table}.{qn('deleted_at')} IS NULL"
        f" AND ({table}.{version_column} IS NULL OR EXCLUDED.{version_column} >= {table}.{version_column})"
        f" AND ({differs})"
    )
    sql = (
        f"{insert} ON CONFLICT ({qn('clerk_id')}) DO UPDATE SET {', '.join(assignments)}"
        f" WHERE {guard} {_returning(model, connection)}"
    )
    return Statement(sql, (*params, _prepare(model, connection, "updated_at", now)))


def tombstone(
    model: type[models.Model], connection: BaseDatabaseWrapper, *, clerk_id: str, version: int, now: datetime
) -> Statement:
    """Mark the user deleted, creating the row if it was never seen so a late ``user.created`` cannot create it.

    Deletion is final in Clerk (ids are never reused), so it ignores version order; it only keeps the highest
    version. ``RETURNING`` yields no row when the user was already a tombstone.
    """
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    insert, params = _insert(
        model,
        connection,
        {"clerk_id": clerk_id, "clerk_version": version, "created_at": now, "updated_at": now, "deleted_at": now},
    )
    stored, deleted, updated = qn("clerk_version"), qn("deleted_at"), qn("updated_at")
    sql = (
        f"{insert} ON CONFLICT ({qn('clerk_id')}) DO UPDATE SET {deleted} = %s, {updated} = %s,"
        f" {stored} = CASE WHEN {table}.{stored} IS NULL OR EXCLUDED.{stored} > {table}.{stored}"
        f" THEN EXCLUDED.{stored} ELSE {table}.{stored} END"
        f" WHERE {table}.{deleted} IS NULL {_returning(model, connection)}"
    )
    prepared = _prepare(model, connection, "deleted_at", now)
    return Statement(sql, (*params, prepared, prepared))


def ledger_insert(
    ledger: type[models.Model], connection: BaseDatabaseWrapper, *, svix_id: str, event_type: str, now: datetime
) -> Statement:
    """Claim ``svix_id``; ``RETURNING`` yields no row when it was already processed (or is being, concurrently).

    ``ON CONFLICT DO NOTHING`` waits for a concurrent transaction holding the same id and then reports the
    conflict, so two deliveries racing each other still apply the event once.
    """
    qn = connection.ops.quote_name
    insert, params = _insert(ledger, connection, {"svix_id": svix_id, "event_type": event_type, "processed_at": now})
    return Statement(f"{insert} ON CONFLICT ({qn('svix_id')}) DO NOTHING RETURNING {qn('id')}", params)


def from_row(model: type[M], connection: BaseDatabaseWrapper, using: str, row: Sequence[Any]) -> M:
    """The model instance for a ``RETURNING`` row, converted as the ORM's own compiler converts a ``SELECT``."""
    fields = model._meta.concrete_fields
    values = []
    for field, raw in zip(fields, row, strict=True):
        value = raw
        column = field.get_col(model._meta.db_table)
        for converter in [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]:
            value = converter(value, column, connection)
        values.append(value)
    return model.from_db(using, [field.attname for field in fields], values)


def _insert(
    model: type[models.Model], connection: BaseDatabaseWrapper, given: Mapping[str, Any]
) -> tuple[str, tuple[Any, ...]]:
    """``INSERT INTO t (every concrete column but the auto key) VALUES (...)``: ``given`` values, else each
    field's default (Django has no database defaults before 5.0, so an app's extra columns need theirs)."""
    if connection.vendor not in _VENDORS:
        raise ConfigurationError(
            f"clerk-sync's Django store supports PostgreSQL and SQLite, not {connection.vendor!r} (no ON CONFLICT)"
        )
    qn = connection.ops.quote_name
    columns, params = [], []
    for field in model._meta.concrete_fields:
        if field is model._meta.auto_field:
            continue
        value = given[field.attname] if field.attname in given else field.get_default()
        columns.append(qn(field.column))
        params.append(field.get_db_prep_save(value, connection))
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
    return sql, tuple(params)


def _returning(model: type[models.Model], connection: BaseDatabaseWrapper) -> str:
    qn = connection.ops.quote_name
    return "RETURNING " + ", ".join(qn(field.column) for field in model._meta.concrete_fields)


def _field(model: type[models.Model], attname: str) -> Any:
    """The concrete field stored as ``attname`` (a foreign key's ``team_id``, not ``team``)."""
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            return field
    raise ConfigurationError(f"{model.__name__} has no column {attname!r}")


def _column(model: type[models.Model], attname: str) -> str:
    column: str = _field(model, attname).column
    return column


def _prepare(model: type[models.Model], connection: BaseDatabaseWrapper, attname: str, value: Any) -> Any:
    return _field(model, attname).get_db_prep_save(value, connection)
