"""The two writes of the sync engine, each ONE ``INSERT ... ON CONFLICT (clerk_id) DO UPDATE`` statement.

The database, not a read before the write, decides whether a row exists: the unique index on ``clerk_id`` turns
a burst of concurrent first requests into one insert and N guarded no-op updates, across processes. The guard
(``WHERE`` of ``DO UPDATE``) encodes the ordering rules, so they hold even when two writers raced past the
store's read: a tombstone is never touched, an older version never overwrites a newer one, and an update that
would change nothing is skipped. When the guard rejects, ``RETURNING`` yields no row and the caller reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, case, false, inspect, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import ReturningInsert

from clerk_sync.db.mixin import ClerkUserMixin
from clerk_sync.errors import ConfigurationError

__all__ = ["dialect_insert", "tombstone_statement", "upsert_statement"]

M = TypeVar("M", bound=ClerkUserMixin)


def dialect_insert(dialect_name: str) -> Callable[..., postgresql.Insert | sqlite.Insert]:
    """The dialect's ``insert`` (the generic one has no ``ON CONFLICT``); other databases are not supported."""
    if dialect_name == "postgresql":
        return postgresql.insert
    if dialect_name == "sqlite":
        return sqlite.insert
    raise ConfigurationError(
        f"DATABASE_URL: clerk-sync supports PostgreSQL and SQLite, not {dialect_name!r} (no ON CONFLICT)"
    )


def upsert_statement(
    model: type[M],
    dialect_name: str,
    *,
    clerk_id: str,
    version: int | None,
    values: Mapping[str, Any],
    now: datetime,
) -> ReturningInsert[M]:
    """Insert the user, or update exactly the carried columns if the guard allows; returns the row if written.

    ``created_at`` is bound to ``now`` only on insert, so a returned row whose ``created_at == now`` was inserted
    by this statement (``xmax = 0`` would say the same on PostgreSQL alone).
    """
    columns = inspect(model).columns
    carried = [columns[key] for key in values]
    stmt = dialect_insert(dialect_name)(model).values(
        {
            columns["clerk_id"]: clerk_id,
            columns["clerk_version"]: version,
            columns["created_at"]: now,
            columns["updated_at"]: now,
            **{column: values[column.key] for column in carried},
        }
    )
    excluded = stmt.excluded
    version_column = columns["clerk_version"]
    differs: list[ColumnElement[bool]] = [column.is_distinct_from(excluded[column.name]) for column in carried]
    return stmt.on_conflict_do_update(
        index_elements=[columns["clerk_id"]],
        set_={
            **{column: excluded[column.name] for column in carried},
            version_column: excluded[version_column.name],
            columns["updated_at"]: now,
        },
        where=(
            columns["deleted_at"].is_(None)
            & or_(version_column.is_(None), excluded[version_column.name] >= version_column)
            & or_(false(), *differs)
        ),
    ).returning(model)


def tombstone_statement(
    model: type[M], dialect_name: str, *, clerk_id: str, version: int, now: datetime
) -> ReturningInsert[M]:
    """Mark the user deleted, creating the row if it was never seen so a late ``user.created`` cannot create it.

    Deletion is final in Clerk (ids are never reused), so it ignores version order; it only keeps the highest
    version. Returns no row when the user was already a tombstone.
    """
    columns = inspect(model).columns
    stmt = dialect_insert(dialect_name)(model).values(
        {
            columns["clerk_id"]: clerk_id,
            columns["clerk_version"]: version,
            columns["created_at"]: now,
            columns["updated_at"]: now,
            columns["deleted_at"]: now,
        }
    )
    stored: Column[Any] = columns["clerk_version"]
    incoming = stmt.excluded[stored.name]
    return stmt.on_conflict_do_update(
        index_elements=[columns["clerk_id"]],
        set_={
            columns["deleted_at"]: now,
            columns["updated_at"]: now,
            stored: case((or_(stored.is_(None), incoming > stored), incoming), else_=stored),
        },
        where=columns["deleted_at"].is_(None),
    ).returning(model)
