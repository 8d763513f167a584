"""Concurrency tests of the async store: the unique constraint plus ``ON CONFLICT`` keep one row per user under a
burst of tasks (the sync store's thread races are in ``test_sync_store.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from clerk_sync.db import AsyncSQLAlchemyStore, SyncResult, User
from clerk_sync.profile import Source, UserDeletion
from tests.db.factories import profile

pytestmark = pytest.mark.anyio

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[AsyncSQLAlchemyStore[User]]:
    """The async store on the test database."""
    store = AsyncSQLAlchemyStore(engine)
    yield store
    await store.close()


async def _count(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_64_concurrent_first_requests_make_one_row(sessionmaker: Sessions, engine: AsyncEngine) -> None:
    """64 simultaneous first requests for one new user all return the same id; exactly one is "created"."""
    created: list[str] = []

    async def on_created(result: SyncResult[User]) -> None:
        created.append(result.user.clerk_id)

    store = AsyncSQLAlchemyStore(engine, on_user_created=on_created)
    results = await asyncio.gather(*(store.sync(profile(email="a@example.com", first_name="Ada")) for _ in range(64)))
    await store.close()

    assert len({result.user.id for result in results}) == 1
    assert [result.action for result in results].count("created") == 1
    assert {result.action for result in results} <= {"created", "unchanged"}
    assert created == ["user_1"]
    assert await _count(sessionmaker) == 1


async def test_concurrent_versions_converge_on_the_newest(
    sessionmaker: Sessions, store: AsyncSQLAlchemyStore[User]
) -> None:
    """Writers racing with different versions leave the newest version's data, whatever the arrival order."""
    versions = [1_000 + (i * 37) % 64 for i in range(64)]
    await asyncio.gather(*(store.sync(profile(version=v, email=f"v{v}@example.com")) for v in versions))

    async with sessionmaker() as session:
        user = (await session.execute(select(User))).scalar_one()
    assert (user.email, user.clerk_version) == (f"v{max(versions)}@example.com", max(versions))


async def test_concurrent_delete_and_creates_never_resurrect(
    sessionmaker: Sessions, store: AsyncSQLAlchemyStore[User]
) -> None:
    """A deletion racing a burst of creates ends as a tombstone, and every later sync is refused."""

    async def create() -> SyncResult[User]:
        return await store.sync(profile(email="a@example.com"), raise_if_deleted=False)

    async def delete() -> str:
        return await store.apply_webhook("msg_del", "user.deleted", UserDeletion("user_1", 500))

    await asyncio.gather(*(create() for _ in range(16)), delete(), *(create() for _ in range(16)))

    after = await create()
    assert after.action == "deleted"
    assert await _count(sessionmaker) == 1


async def test_concurrent_redeliveries_apply_once(store: AsyncSQLAlchemyStore[User]) -> None:
    """The same Svix message delivered 16 times at once is applied once; the rest are duplicates."""
    change = profile(source=Source.WEBHOOK, email="a@example.com")
    outcomes = await asyncio.gather(*(store.apply_webhook("msg_1", "user.created", change) for _ in range(16)))

    assert sorted(outcomes) == ["created"] + ["duplicate"] * 15
