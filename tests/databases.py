"""Throwaway databases for tests: an SQLite file under ``tmp_path``, or a uniquely named PostgreSQL database.

PostgreSQL is the server at ``CLERK_SYNC_TEST_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432/test``,
used only as the place to run ``CREATE``/``DROP DATABASE``). When it is unreachable the test is skipped, except
under ``CI=true``, where a silently skipped half of the matrix would hide real failures.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import NoReturn

import asyncpg  # no stubs; only two calls used here
import pytest
from sqlalchemy.engine import make_url

__all__ = [
    "DATABASE_KINDS",
    "POSTGRES_ADMIN_URL",
    "create_postgres_database",
    "database_url",
    "drop_postgres_database",
    "postgres_database_url",
    "sqlite_url",
    "temporary_postgres_database",
]

POSTGRES_ADMIN_URL = os.environ.get("CLERK_SYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

#: Parametrise fixtures with these; the PostgreSQL case carries the ``postgres`` marker (``-m "not postgres"``).
DATABASE_KINDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="pg", marks=pytest.mark.postgres)]


def sqlite_url(directory: Path, name: str = "clerk_sync.db") -> str:
    """An aiosqlite URL for a file in ``directory`` (a file, not ``:memory:``: WAL and many connections)."""
    return f"sqlite+aiosqlite:///{directory / name}"


@asynccontextmanager
async def temporary_postgres_database(prefix: str = "clerk_sync_test") -> AsyncIterator[str]:
    """Create a fresh database, yield its ``postgresql+asyncpg`` URL, and drop it (connections and all) after."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await create_postgres_database(name)
    try:
        yield postgres_database_url(name)
    finally:
        await drop_postgres_database(name)


async def create_postgres_database(name: str) -> None:
    """Create an empty database (for fixtures wider than one event loop, which pair it with the drop)."""
    await _admin(f'CREATE DATABASE "{name}"')


def postgres_database_url(name: str) -> str:
    """The ``postgresql+asyncpg`` URL of database ``name`` on the test server."""
    return (
        make_url(POSTGRES_ADMIN_URL)
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


async def drop_postgres_database(name: str) -> None:
    """Drop ``name`` even while connections are open (``WITH (FORCE)`` terminates them; PostgreSQL 13+)."""
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def database_url(kind: str, directory: Path) -> AsyncIterator[str]:
    """A fresh, empty database of ``kind`` (``sqlite`` or ``postgresql``) for one test."""
    if kind == "sqlite":
        yield sqlite_url(directory)
    elif kind == "postgresql":
        async with temporary_postgres_database() as url:
            yield url
    else:
        raise ValueError(f"unknown database kind {kind!r}")


async def _admin(sql: str) -> None:
    try:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        _unreachable(f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: {error!r}")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _unreachable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
