"""Start-up schema check: an app whose user table was never created stops at start, saying how to create it.

Without it, the first request on a fresh SQLite file answered 503 ``database-unavailable`` (``no such table:
users``), which reads like an outage and sends a newcomer looking at the database server. The check runs once,
when the core opens with ``migrate=False``: a database that cannot be reached is left to ``/readyz`` and the 503s
(retrying later may succeed); a reachable one without the table is a set-up step not yet taken, so it is a
``ConfigurationError`` naming the table, the command and the option.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, inspect

from clerk_sync.db.failures import is_unavailable
from clerk_sync.db.migrate import upgrade
from clerk_sync.db.store import AsyncSQLAlchemyStore
from clerk_sync.errors import ConfigurationError

__all__ = ["missing_table_error", "prepare_schema"]


def missing_table_error(table: str) -> ConfigurationError:
    """The one line an app without its user table stops with."""
    return ConfigurationError(
        f"DATABASE_URL: the table {table!r} does not exist. Create it with `clerk-sync db upgrade` (DATABASE_URL "
        "set to this database), or pass migrate=True to apply clerk-sync's migrations at start"
    )


async def prepare_schema(store: object, *, migrate: bool) -> None:
    """``migrate``: apply the packaged migrations; otherwise check the store's user table exists.

    Stores other than ``AsyncSQLAlchemyStore`` (an app's own port implementation) are theirs to prepare.
    """
    if not isinstance(store, AsyncSQLAlchemyStore):
        return
    if migrate:
        await upgrade(store.engine)
        return
    table = store.model.__table__
    try:
        async with store.engine.connect() as connection:
            present = await connection.run_sync(_has_table, table)
    except Exception as exc:
        if is_unavailable(exc):
            return  # an outage, not a set-up step: /readyz and the 503s report it
        raise
    if not present:
        raise missing_table_error(table.name)


def _has_table(connection: Connection, table: Any) -> bool:
    return bool(inspect(connection).has_table(table.name, schema=table.schema))
