"""Concurrency tests: the unique constraint plus ``ON CONFLICT`` keep one row per user under a burst."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clerk_sync.db import SyncResult, User, UserDeletion, UserSync
from clerk_sync.profile import Source
from tests.db.factories import profile

pytestmark = pytest.mark.anyio

Sessions = async_sessionmaker[AsyncSession]


async def _count(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def test_64_concurrent_first_requests_make_one_row(sessionmaker: Sessions) -> None:
    """64 simultaneous first requests for one new user all return the same id; exactly one is "created"."""
    created: list[str] = []

    async def on_created(result: SyncResult[User]) -> None:
        created.append(result.user.clerk_id)

    sync = UserSync(on_user_created=on_created)

    async def first_request() -> SyncResult[User]:
        async with sessionmaker() as session:
            return await sync.sync(session, profile(email="a@example.com", first_name="Ada"))

    results = await asyncio.gather(*(first_request() for _ in range(64)))

    assert len({result.user.id for result in results}) == 1
    assert [result.action for result in results].count("created") == 1
    assert {result.action for result in results} <= {"created", "unchanged"}
    assert created == ["user_1"]
    assert await _count(sessionmaker) == 1


async def test_concurrent_versions_converge_on_the_newest(sessionmaker: Sessions) -> None:
    """Writers racing with different versions leave the newest version's data, whatever the arrival order."""
    sync = UserSync()

    async def write(version: int) -> SyncResult[User]:
        async with sessionmaker() as session:
            return await sync.sync(session, profile(version=version, email=f"v{version}@example.com"))

    versions = [1_000 + (i * 37) % 64 for i in range(64)]
    await asyncio.gather(*(write(version) for version in versions))

    async with sessionmaker() as session:
        user = (await session.execute(select(User))).scalar_one()
    assert (user.email, user.clerk_version) == (f"v{max(versions)}@example.com", max(versions))


async def test_concurrent_delete_and_creates_never_resurrect(sessionmaker: Sessions) -> None:
    """A deletion racing a burst of creates ends as a tombstone, and every later sync is refused."""
    sync = UserSync()

    async def create() -> SyncResult[User]:
        async with sessionmaker() as session:
            return await sync.sync(session, profile(email="a@example.com"), raise_if_deleted=False)

    async def delete() -> str:
        async with sessionmaker() as session:
            return await sync.apply_webhook(
                session, svix_id="msg_del", event_type="user.deleted", change=UserDeletion("user_1", 500)
            )

    await asyncio.gather(*(create() for _ in range(16)), delete(), *(create() for _ in range(16)))

    after = await create()
    assert after.action == "deleted"
    assert await _count(sessionmaker) == 1


async def test_concurrent_redeliveries_apply_once(sessionmaker: Sessions) -> None:
    """The same Svix message delivered 16 times at once is applied once; the rest are duplicates."""
    sync = UserSync()

    async def deliver() -> str:
        async with sessionmaker() as session:
            return await sync.apply_webhook(
                session,
                svix_id="msg_1",
                event_type="user.created",
                change=profile(source=Source.WEBHOOK, email="a@example.com"),
            )

    outcomes = await asyncio.gather(*(deliver() for _ in range(16)))

    assert sorted(outcomes) == ["created"] + ["duplicate"] * 15
