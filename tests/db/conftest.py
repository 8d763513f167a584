"""Fixtures for the storage tests: every database-backed test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from clerk_sync.db import Base, UserSync, create_engine, create_sessionmaker
from tests.db.factories import StatementLog


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """The engine is asyncio-only (asyncpg, aiosqlite)."""
    return "asyncio"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database holding clerk-sync's default tables."""
    engine = create_engine(db_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions as the service makes them."""
    return create_sessionmaker(engine)


@pytest.fixture
def statements(engine: AsyncEngine) -> StatementLog:
    """Every statement and commit the engine sends from now on."""
    return StatementLog.attach(engine)


@pytest.fixture
def user_sync() -> UserSync:  # type: ignore[type-arg]
    """The sync engine on the default ``User`` model."""
    return UserSync()
