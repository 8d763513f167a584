"""Unit and integration tests of the engine factory, the datetime type and the package surface."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import clerk_sync.db
from clerk_sync.db import DEFAULT_DATABASE_URL, Base, User, UTCDateTime, create_engine
from clerk_sync.db.upsert import dialect_insert
from clerk_sync.errors import ConfigurationError
from tests.databases import sqlite_url


@pytest.mark.anyio
async def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode, waits for locks and enforces foreign keys."""
    engine = create_engine(sqlite_url(tmp_path))
    try:
        async with engine.connect() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
    finally:
        await engine.dispose()

    assert pragmas == ["wal", 10_000, 1]


@pytest.mark.anyio
async def test_datetimes_come_back_aware_utc(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Whatever zone goes in, UTC-aware comes out, on SQLite (which stores no offset) as on PostgreSQL."""
    written = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=5)))
    async with sessionmaker() as session:
        session.add(User(clerk_id="user_1", created_at=written, updated_at=written))
        await session.commit()
    async with sessionmaker() as session:
        stored = (await session.execute(select(User.created_at))).scalar_one()

    assert stored == written
    assert stored.tzinfo is UTC


def test_naive_datetimes_are_refused() -> None:
    """Guessing a naive value's zone is how off-by-hours bugs get written; the type refuses instead."""
    decorator = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        decorator.process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]
    assert decorator.process_result_value(datetime(2026, 1, 1), None) == datetime(  # type: ignore[arg-type]
        2026, 1, 1, tzinfo=UTC
    )


def test_unsupported_dialect_is_a_configuration_error() -> None:
    """Only databases with ``ON CONFLICT`` are supported; others are refused by name."""
    with pytest.raises(ConfigurationError, match="mysql"):
        dialect_insert("mysql")


def test_default_url_and_naming_convention() -> None:
    """The default database is an SQLite file; constraint names follow the shared convention."""
    assert DEFAULT_DATABASE_URL.startswith("sqlite+aiosqlite:///")
    users = Base.metadata.tables["users"]
    assert {index.name for index in users.indexes} == {"ix_users_clerk_id"}
    assert users.primary_key.name == "pk_users"


def test_public_api_is_sorted_and_complete() -> None:
    """``clerk_sync.db.__all__`` lists every public name exactly once (ruff's RUF022 keeps it sorted)."""
    public = {name for name in vars(clerk_sync.db) if name.isidentifier() and not name.startswith("_")}
    public -= {"annotations"}
    submodules = {"base", "engine", "failures", "limits", "migrate", "migrations", "mixin", "models", "reader"}
    submodules |= {"checkpoints", "operations", "schema", "store", "sync_reader", "upsert", "wiring"}
    assert len(set(clerk_sync.db.__all__)) == len(clerk_sync.db.__all__)
    assert set(clerk_sync.db.__all__) == public - submodules - {"webhook_log"}
