"""The app owns its user model: its own declarative base, the mixin, and columns of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from clerk_sync.db import (
    AsyncSQLAlchemyStore,
    ClerkUserMixin,
    SyncResult,
    create_engine,
    create_sessionmaker,
)
from tests.db.factories import profile
from tests.support import AppBase

pytestmark = pytest.mark.anyio


class Account(ClerkUserMixin, AppBase):
    """An app model with a column clerk-sync knows nothing about."""

    __tablename__ = "accounts"

    nickname: Mapped[str | None] = mapped_column(String(64))
    karma: Mapped[int] = mapped_column(default=0)


@pytest.fixture
async def app_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a database whose schema is the app's own metadata."""
    engine = create_engine(db_url)
    async with engine.begin() as connection:
        await connection.run_sync(AppBase.metadata.create_all, tables=[AppBase.metadata.tables[Account.__tablename__]])
    yield engine
    await engine.dispose()


async def test_store_syncs_an_app_model_and_leaves_its_columns_alone(app_engine: AsyncEngine) -> None:
    """The store writes the synced columns of the app's model and never touches the app's own columns."""
    store: AsyncSQLAlchemyStore[Account] = AsyncSQLAlchemyStore(app_engine, Account)
    app_sessions = create_sessionmaker(app_engine)
    created = await store.sync(profile(email="a@example.com"))
    async with app_sessions() as session:
        session.add(created.user)  # the detached user binds to the app's session without a query
        created.user.nickname = "ada"
        created.user.karma = 7
        await session.commit()

    updated: SyncResult[Account] = await store.sync(profile(version=2_000, email="b@example.com"))
    await store.close()

    assert (created.action, updated.action) == ("created", "updated")
    async with app_sessions() as session:
        account = (await session.execute(select(Account))).scalar_one()
    assert (account.email, account.nickname, account.karma) == ("b@example.com", "ada", 7)


async def test_claims_may_map_to_app_columns(app_engine: AsyncEngine) -> None:
    """A claim mapping may target the app's extra columns; they are synced like the built-in ones."""
    store = AsyncSQLAlchemyStore(app_engine, Account)
    result = await store.sync(profile(nickname="ada"))
    await store.close()

    assert result.user.nickname == "ada"
    assert result.user.karma == 0
