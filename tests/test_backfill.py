"""Backfill against the test kit's fake Backend API (real HTTP on 127.0.0.1), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clerk_sync.backend_api import BackendAPI
from clerk_sync.backfill import BackfillReport, backfill
from clerk_sync.db import User, UserSync, create_engine, create_sessionmaker, upgrade
from clerk_sync.profile import Source, UserProfile
from clerk_sync.testing import FakeClerkBackend, make_user_json
from tests.databases import DATABASE_KINDS, database_url

pytestmark = pytest.mark.anyio

SECRET = "sk_test_backfill"
BASE_MS = 1_700_000_000_000


@pytest.fixture(params=DATABASE_KINDS)
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database_url(request.param, tmp_path) as url:
        engine = create_engine(url)
        await upgrade(engine)
        yield create_sessionmaker(engine)
        await engine.dispose()


def population(n: int) -> list[dict[str, object]]:
    return [
        make_user_json(
            f"user_{i:05d}",
            email=f"u{i}@example.com",
            first_name=f"F{i}",
            created_at=BASE_MS + i,
            updated_at=BASE_MS + i,
        )
        for i in range(n)
    ]


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


async def run(
    backend: FakeClerkBackend,
    sessions: async_sessionmaker[AsyncSession],
    sleeps: Sleeps | None = None,
    **kwargs: Any,
) -> BackfillReport:
    async with httpx.AsyncClient() as http:
        api = BackendAPI(http, SECRET, api_url=backend.url, max_attempts=6, sleep=sleeps if sleeps else Sleeps())
        return await backfill(api, sessions, UserSync(), **kwargs)


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, User]:
    async with sessions() as session:
        return {user.clerk_id: user for user in (await session.execute(select(User))).scalars()}


@pytest.mark.parametrize("page_size", [500, 100])
async def test_thousands_of_users_with_429_and_500(sessions: async_sessionmaker[AsyncSession], page_size: int) -> None:
    """2,600 users over many pages, one 429 (Retry-After honoured) and one 500: each user exactly once; a
    second run changes nothing."""
    users = population(2600)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        backend.fail(429, on_request=3, retry_after=7)
        backend.fail(500, on_request=5)
        sleeps = Sleeps()
        first = await run(backend, sessions, page_size=page_size, sleeps=sleeps)
        assert 7 in sleeps.calls
        assert (first.seen, first.created, first.updated, first.unchanged, first.skipped) == (2600, 2600, 0, 0, 0)
        stored = await rows(sessions)
        assert len(stored) == 2600
        assert stored["user_01234"].email == "u1234@example.com"
        assert stored["user_01234"].first_name == "F1234"
        async with sessions() as session:
            duplicates = (
                await session.execute(select(User.clerk_id).group_by(User.clerk_id).having(func.count() > 1))
            ).all()
        assert duplicates == []
        second = await run(backend, sessions, page_size=page_size)
        assert (second.created, second.updated, second.unchanged) == (0, 0, 2600)
        assert {u.clerk_id: u.updated_at for u in (await rows(sessions)).values()} == {
            u.clerk_id: u.updated_at for u in stored.values()
        }


async def test_changed_user_is_updated_and_stale_data_skipped(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A profile edited in Clerk is updated; a row fresher than Clerk's page (a token seen meanwhile) is kept."""
    users = population(3)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        await run(backend, sessions)
        backend.add_user({**users[0], "first_name": "Edited", "updated_at": BASE_MS + 10_000})
        async with sessions() as session:
            fresher = UserProfile("user_00001", BASE_MS + 99_999, Source.TOKEN, {"first_name": "FromToken"})
            await UserSync().sync(session, fresher)
        backend.add_user({**users[1], "first_name": "Older", "updated_at": BASE_MS + 50_000})
        report = await run(backend, sessions)
        assert (report.updated, report.skipped, report.unchanged) == (1, 1, 1)
        stored = await rows(sessions)
        assert stored["user_00000"].first_name == "Edited"
        assert stored["user_00001"].first_name == "FromToken"


async def test_dry_run_writes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    """--dry-run reports what would change and leaves the table exactly as it was."""
    users = population(5)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        await run(backend, sessions)
        backend.add_user({**users[2], "first_name": "Renamed", "updated_at": BASE_MS + 10_000})
        backend.add_user(make_user_json("user_new", created_at=BASE_MS + 100, updated_at=BASE_MS + 100))
        before = {k: (v.first_name, v.updated_at) for k, v in (await rows(sessions)).items()}
        report = await run(backend, sessions, dry_run=True)
        assert (report.created, report.updated, report.unchanged) == (1, 1, 4)
        assert sorted((c.clerk_id, c.action) for c in report.planned) == [
            ("user_00002", "updated"),
            ("user_new", "created"),
        ]
        assert {k: (v.first_name, v.updated_at) for k, v in (await rows(sessions)).items()} == before


async def test_prune_tombstones_confirmed_deletions_only(sessions: async_sessionmaker[AsyncSession]) -> None:
    """--prune tombstones users Clerk answers 404 for; it never hard-deletes and spares users Clerk still has."""
    users = population(4)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        await run(backend, sessions)
        backend.remove_user("user_00003")
        dry = await run(backend, sessions, prune=True, dry_run=True)
        assert [(c.clerk_id, c.action) for c in dry.planned] == [("user_00003", "pruned")]
        assert (await rows(sessions))["user_00003"].deleted_at is None
        report = await run(backend, sessions, prune=True)
        assert report.pruned == 1
        stored = await rows(sessions)
        assert len(stored) == 4
        assert stored["user_00003"].deleted_at is not None
        assert all(stored[f"user_0000{i}"].deleted_at is None for i in range(3))
        # A tombstone is never resurrected by a later backfill, even if Clerk lists the id again.
        backend.add_user({**users[3], "updated_at": BASE_MS + 10**9})
        again = await run(backend, sessions)
        assert again.skipped == 1
        assert (await rows(sessions))["user_00003"].deleted_at is not None


async def test_prune_spares_users_created_during_the_run(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A local user created after the listing began (a sign-up racing the backfill) is never a prune candidate,
    though Clerk's listing did not contain it; an older local-only user Clerk does not know is pruned."""
    with FakeClerkBackend(secret_key=SECRET, users=population(2)) as backend:
        async with sessions() as session:
            for clerk_id in ("user_signed_up_now", "user_long_gone"):
                await UserSync().sync(session, UserProfile(clerk_id, BASE_MS, Source.TOKEN))
            # Pretend the sign-up happened after the backfill started (its row is newer than the run).
            await session.execute(
                update(User)
                .where(User.clerk_id == "user_signed_up_now")
                .values(created_at=datetime.now(UTC) + timedelta(hours=1))
            )
            await session.commit()
        report = await run(backend, sessions, prune=True)
        assert report.pruned == 1
        stored = await rows(sessions)
        assert stored["user_long_gone"].deleted_at is not None
        assert stored["user_signed_up_now"].deleted_at is None


async def test_unreadable_users_are_skipped(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A malformed user object is counted as skipped; the rest of the run goes on."""
    with FakeClerkBackend(secret_key=SECRET, users=population(2)) as backend:
        backend.add_user({"id": "user_unversioned", "object": "user", "updated_at": "yesterday"})
        report = await run(backend, sessions)
        assert (report.created, report.skipped) == (2, 1)
