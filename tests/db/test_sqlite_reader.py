"""The in-loop SQLite reader: the steady-state read skips aiosqlite's thread hop, and falls back when it cannot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from clerk_sync.db import Base, User, UserSync, create_engine, create_sessionmaker
from clerk_sync.db.engine import sqlite_reader
from tests.db.factories import profile

pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/reader.db")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


def count(target: Any) -> list[str]:
    seen: list[str] = []
    event.listen(target, "before_cursor_execute", lambda *args: seen.append(str(args[2]).split()[0]))
    return seen


async def test_steady_state_read_uses_the_reader(engine: AsyncEngine) -> None:
    """An unchanged user is read through the synchronous reader; aiosqlite sees no statement at all."""
    sessions, sync = create_sessionmaker(engine), UserSync()
    async with sessions() as session:
        await sync.sync(session, profile(email="a@example.com"))
    reader = sqlite_reader(engine)
    assert reader is not None
    via_reader, via_aiosqlite = count(reader), count(engine.sync_engine)
    async with sessions() as session:
        result = await sync.sync(session, profile(email="a@example.com"))
        assert result.action == "unchanged"
        assert result.user in session  # bound to the caller's session like any loaded row
        assert result.user.email == "a@example.com"
    assert via_reader == ["SELECT"]
    assert via_aiosqlite == []


async def test_reader_failure_falls_back_to_aiosqlite(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the in-loop read fails (a lock, a thread mix-up), the regular async read answers instead."""
    sessions, sync = create_sessionmaker(engine), UserSync()
    async with sessions() as session:
        await sync.sync(session, profile(email="a@example.com"))
    reader = sqlite_reader(engine)
    assert reader is not None

    def locked(*args: Any) -> None:
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    event.listen(reader, "before_cursor_execute", locked)
    via_aiosqlite = count(engine.sync_engine)
    async with sessions() as session:
        result = await sync.sync(session, profile(email="b@example.com", version=2_000))
    assert result.action == "updated"
    assert via_aiosqlite[0] == "SELECT"
    async with sessions() as session:
        assert (await session.get(User, result.user.id)) is not None


async def test_memory_databases_have_no_reader() -> None:
    """:memory: databases are private to one connection, so there is no second reader."""
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert sqlite_reader(engine) is None
    finally:
        await engine.dispose()
