"""The app owns its user model: its own declarative base, the mixin, and columns of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clerk_sync.db import NAMING_CONVENTION, ClerkUserMixin, SyncResult, UserSync, create_engine, create_sessionmaker
from tests.db.factories import profile

pytestmark = pytest.mark.anyio


class AppBase(DeclarativeBase):
    """An app's own base, unrelated to clerk-sync's."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(ClerkUserMixin, AppBase):
    """An app model with a column clerk-sync knows nothing about."""

    __tablename__ = "accounts"

    nickname: Mapped[str | None] = mapped_column(String(64))
    karma: Mapped[int] = mapped_column(default=0)


@pytest.fixture
async def app_sessions(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database whose schema is the app's own metadata."""
    engine = create_engine(db_url)
    async with engine.begin() as connection:
        await connection.run_sync(AppBase.metadata.create_all)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_engine_syncs_an_app_model_and_leaves_its_columns_alone(
    app_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The engine writes the synced columns of the app's model and never touches the app's own columns."""
    sync: UserSync[Account] = UserSync(Account)
    async with app_sessions() as session:
        created = await sync.sync(session, profile(email="a@example.com"))
        created.user.nickname = "ada"
        created.user.karma = 7
        await session.commit()

    async with app_sessions() as session:
        updated: SyncResult[Account] = await sync.sync(session, profile(version=2_000, email="b@example.com"))

    assert (created.action, updated.action) == ("created", "updated")
    async with app_sessions() as session:
        account = (await session.execute(select(Account))).scalar_one()
    assert (account.email, account.nickname, account.karma) == ("b@example.com", "ada", 7)


async def test_claims_may_map_to_app_columns(app_sessions: async_sessionmaker[AsyncSession]) -> None:
    """A claim mapping may target the app's extra columns; they are synced like the built-in ones."""
    sync = UserSync(Account)
    async with app_sessions() as session:
        result = await sync.sync(session, profile(nickname="ada"))

    assert result.user.nickname == "ada"
    assert result.user.karma == 0
