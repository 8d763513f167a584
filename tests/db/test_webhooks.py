"""Integration tests of the stores' ``apply_webhook``: exactly-once effects and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clerk_sync.db import ProcessedWebhook, User
from clerk_sync.errors import ConfigurationError
from clerk_sync.profile import Source, UserDeletion, UserProfile
from tests.db.factories import AnyStore, StatementLog, profile

pytestmark = pytest.mark.anyio

Sessions = async_sessionmaker[AsyncSession]


def _event(version: int = 1_000, **fields: Any) -> UserProfile:
    return profile(version=version, source=Source.WEBHOOK, **fields)


async def _apply(store: AnyStore, svix_id: str, change: UserProfile | UserDeletion) -> str:
    return await store.apply_webhook(svix_id, "user.updated", change)


async def _ledger(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        return list((await session.execute(select(ProcessedWebhook.svix_id))).scalars())


async def test_event_is_applied_and_recorded(sessionmaker: Sessions, store: AnyStore) -> None:
    """A new message creates or updates the user and records its svix id."""
    assert await _apply(store, "msg_1", _event(email="a@example.com")) == "created"
    assert await _apply(store, "msg_2", _event(2_000, email="b@example.com")) == "updated"

    assert sorted(await _ledger(sessionmaker)) == ["msg_1", "msg_2"]


async def test_duplicate_svix_id_writes_nothing(
    sessionmaker: Sessions, store: AnyStore, statements: StatementLog
) -> None:
    """A redelivered message is reported as a duplicate and its effect is not applied again."""
    await _apply(store, "msg_1", _event(email="a@example.com"))
    statements.clear()

    outcome = await _apply(store, "msg_1", _event(2_000, email="changed@example.com"))

    assert outcome == "duplicate"
    assert statements.commits == 0
    assert len(statements.sql) == 1  # the ledger insert, which conflicted and inserted nothing
    async with sessionmaker() as session:
        assert (await session.execute(select(User.email))).scalar_one() == "a@example.com"
    assert await _ledger(sessionmaker) == ["msg_1"]


async def test_webhook_cannot_resurrect_a_tombstone(sessionmaker: Sessions, store: AnyStore) -> None:
    """After ``user.deleted``, a later (or replayed) ``user.updated`` reports ``deleted`` and changes nothing."""
    await _apply(store, "msg_1", _event(email="a@example.com"))
    assert await _apply(store, "msg_2", UserDeletion("user_1", 2_000)) == "deleted"

    assert await _apply(store, "msg_3", _event(3_000, email="b@example.com")) == "deleted"

    async with sessionmaker() as session:
        user = (await session.execute(select(User))).scalar_one()
    assert user.email == "a@example.com"
    assert user.deleted_at is not None


async def test_failed_effect_rolls_back_the_ledger(sessionmaker: Sessions, store: AnyStore) -> None:
    """If the effect fails, the svix id is not recorded, so Svix's retry applies the event."""
    with pytest.raises(ConfigurationError):
        await _apply(store, "msg_1", _event(nickname="x"))
    assert await _ledger(sessionmaker) == []

    assert await _apply(store, "msg_1", _event(email="a@example.com")) == "created"


async def test_last_webhook_at(sessionmaker: Sessions, store: AnyStore) -> None:
    """Health reports get the time of the latest applied message, aware UTC, or None before the first."""
    assert await store.last_webhook_at() is None
    before = datetime.now(UTC)
    await _apply(store, "msg_1", _event(email="a@example.com"))

    latest = await store.last_webhook_at()
    async with sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(ProcessedWebhook))
    assert latest is not None
    assert latest.tzinfo is not None
    assert before <= latest <= datetime.now(UTC)
    assert count == 1
