"""Fixtures for the storage tests: every database-backed test runs on SQLite and on PostgreSQL, and the store
tests on both stores (async, and sync run on real worker threads)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from clerk_sync.db import AsyncSQLAlchemyStore, Base, SQLAlchemyStore, User, create_engine, create_sessionmaker
from tests.db.factories import AnyStore, StatementLog, ThreadedStore


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
    """Sessions on the test database, for looking at what a store wrote."""
    return create_sessionmaker(engine)


StoreFactory = Callable[..., AnyStore]


@pytest.fixture(params=["async", "sync"])
async def make_store(request: pytest.FixtureRequest, engine: AsyncEngine, db_url: str) -> AsyncIterator[StoreFactory]:
    """Builds stores of one kind on the test database (keyword arguments: hooks, logger); closed afterwards."""
    opened: list[Any] = []

    def build(**kwargs: Any) -> AnyStore:
        if request.param == "async":
            store: AsyncSQLAlchemyStore[User] = AsyncSQLAlchemyStore(engine, **kwargs)
            opened.append(store)
            return store
        sync: SQLAlchemyStore[User] = SQLAlchemyStore.from_url(db_url, **kwargs)
        opened.append(sync)
        return ThreadedStore(sync)

    yield build
    for store in opened:
        if isinstance(store, AsyncSQLAlchemyStore):
            await store.close()
        else:
            store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> AnyStore:
    """A store on the default ``User`` model (each kind in turn)."""
    return make_store()


@pytest.fixture
def statements(store: AnyStore) -> StatementLog:
    """Every statement and commit the store sends through its engine from now on."""
    return StatementLog.attach(store.sync_engine if isinstance(store, ThreadedStore) else store.engine.sync_engine)
