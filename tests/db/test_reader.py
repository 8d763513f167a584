"""The session-free steady-state read (``UserReader`` + ``UserSync.read``) on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from sqlalchemy import String, select
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column

from clerk_sync.db import ClerkUserMixin, UserSync, create_engine, create_sessionmaker
from clerk_sync.db.reader import READER_POOL_SIZE, UserReader, open_user_reader
from clerk_sync.errors import UserDeletedError
from tests.databases import POSTGRES_ADMIN_URL
from tests.db.factories import profile

pytestmark = pytest.mark.anyio


class AppBase(DeclarativeBase):
    pass


class Member(ClerkUserMixin, AppBase):
    """An app's own model: an extra column, and a deferred one the reader must leave alone."""

    __tablename__ = "members"
    nickname: Mapped[str | None] = mapped_column(String(50), default=None)
    biography: Mapped[str | None] = deferred(mapped_column(String(2000), default=None))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    async with engine.begin() as connection:
        await connection.run_sync(AppBase.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def reader(engine: AsyncEngine) -> AsyncIterator[UserReader]:
    opened = open_user_reader(engine, Member)
    assert opened is not None
    yield opened
    await opened.close()


async def test_reader_values_equal_what_the_orm_loads(engine: AsyncEngine, reader: UserReader) -> None:
    """Every loaded column (JSON documents, aware datetimes, the app's extra column) reads back as the ORM's."""
    sync = UserSync(Member)
    async with create_sessionmaker(engine)() as session:
        await sync.sync(
            session, profile(email="a@example.com", first_name="Ada", public_metadata={"plan": "pro", "n": [1, 2]})
        )
        member = (await session.execute(select(Member))).scalar_one()
        member.nickname = "ada"
        member.biography = "long text"
        await session.commit()
        await session.refresh(member)
        row = await reader.fetch("user_1")
    assert row is not None
    assert "biography" not in row  # deferred: never loaded by the reader, as the ORM's default load
    expected = {key: getattr(member, key) for key in row}
    assert row == expected
    assert row["public_metadata"] == {"plan": "pro", "n": [1, 2]}
    assert isinstance(row["created_at"], datetime)
    assert row["created_at"].utcoffset() is not None


async def test_missing_row_is_a_lookup_error(reader: UserReader) -> None:
    with pytest.raises(LookupError):
        await reader.fetch("user_nobody")


async def test_read_answers_the_steady_state_and_defers_writes(engine: AsyncEngine, reader: UserReader) -> None:
    """Unchanged or stale: a detached user as loaded. A miss or a change: None (``sync`` must write)."""
    sync = UserSync(Member)
    assert await sync.read(reader, profile(email="a@example.com")) is None  # first sight
    async with create_sessionmaker(engine)() as session:
        await sync.sync(session, profile(email="a@example.com", version=2_000))
    unchanged = await sync.read(reader, profile(email="a@example.com", version=3_000))
    assert unchanged is not None
    assert unchanged.action == "unchanged"
    state = orm_inspect(unchanged.user)
    assert state.detached
    assert state.key is not None
    assert not state.modified
    assert unchanged.user.email == "a@example.com"
    stale = await sync.read(reader, profile(email="old@example.com", version=1_000))
    assert stale is not None
    assert stale.action == "stale"
    assert await sync.read(reader, profile(email="new@example.com", version=4_000)) is None  # a change


async def test_read_refuses_a_tombstone(engine: AsyncEngine, reader: UserReader) -> None:
    sync = UserSync(Member)
    async with create_sessionmaker(engine)() as session:
        await sync.sync(session, profile(email="a@example.com"))
        await sync.delete(session, "user_1", 5_000)
    with pytest.raises(UserDeletedError):
        await sync.read(reader, profile(email="a@example.com", version=9_000))


async def test_reader_user_binds_to_a_session_and_its_changes_commit(engine: AsyncEngine, reader: UserReader) -> None:
    """``session.add`` attaches the detached user without a query; a change then flushes as an UPDATE."""
    sync = UserSync(Member)
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        await sync.sync(session, profile(email="a@example.com"))
    result = await sync.read(reader, profile(email="a@example.com"))
    assert result is not None
    async with sessions() as session:
        session.add(result.user)
        result.user.nickname = "lovelace"
        await session.commit()
    async with sessions() as session:
        assert (await session.execute(select(Member.nickname))).scalar_one() == "lovelace"


async def test_in_memory_sqlite_has_no_reader() -> None:
    """A ``:memory:`` database is private to one connection: only the session path can see it."""
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert open_user_reader(engine, Member) is None
    finally:
        await engine.dispose()


async def test_unreachable_database_stands_aside_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    """A reader that cannot connect answers None at once, warns once, and stays out of the way while backing off."""
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/nothing")  # port 9: nothing listens
    reader = open_user_reader(engine, Member)
    assert reader is not None
    caplog.set_level(logging.DEBUG, logger="clerk_sync.db.reader")
    try:
        assert await reader.fetch("user_1") is None
        assert await reader.fetch("user_1") is None  # inside the back-off: not even an attempt
    finally:
        await reader.close()
        await engine.dispose()
    failures = [record for record in caplog.records if "user reader failed" in record.getMessage()]
    assert len(failures) == 1
    assert failures[0].levelno == logging.WARNING


async def test_reader_connects_with_the_engines_settings(postgres_url: str) -> None:
    """The reader's connections carry the engine's server settings (the 5 s lock timeout, the statement timeout)."""
    engine = create_engine(postgres_url)
    reader = open_user_reader(engine, Member)
    assert reader is not None
    seen: list[Any] = []
    try:
        driver: Any = reader._driver  # the connections are private; this test checks what they connect with
        connection = await driver._open()
        try:
            seen.append(await connection.fetchval("SHOW lock_timeout"))
            seen.append(await connection.fetchval("SELECT current_database()"))
        finally:
            await connection.close()
    finally:
        await reader.close()
        await engine.dispose()
    assert seen == ["5s", make_url(postgres_url).database]


@pytest.fixture
async def pg_reader(postgres_url: str) -> AsyncIterator[tuple[UserReader, AsyncEngine, str]]:
    engine = create_engine(postgres_url)
    async with engine.begin() as connection:
        await connection.run_sync(AppBase.metadata.create_all)
    async with create_sessionmaker(engine)() as session:
        await UserSync(Member).sync(session, profile(email="a@example.com"))
    reader = open_user_reader(engine, Member)
    assert reader is not None
    yield reader, engine, str(make_url(postgres_url).database)
    await reader.close()
    await engine.dispose()


async def reader_backends(database: str) -> list[int]:
    """The reader's server processes: every connection to the test database except the admin's own."""
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        rows = await admin.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = ''", database
        )
        return [row["pid"] for row in rows]
    finally:
        await admin.close()


async def test_concurrent_reads_share_a_bounded_set_of_connections(
    pg_reader: tuple[UserReader, AsyncEngine, str],
) -> None:
    """200 concurrent reads all answer, over at most READER_POOL_SIZE server connections."""
    reader, engine, database = pg_reader
    await engine.dispose()  # leave only the reader's connections on the database
    rows = await asyncio.gather(*(reader.fetch("user_1") for _ in range(200)))
    assert {row["email"] for row in rows if row is not None} == {"a@example.com"}
    assert all(row is not None for row in rows)
    assert 1 <= len(await reader_backends(database)) <= READER_POOL_SIZE


async def test_a_cancelled_read_drops_its_connection(pg_reader: tuple[UserReader, AsyncEngine, str]) -> None:
    """A request cancelled mid-read (client gone) leaves no half-used connection behind: the next read works."""
    reader, _, database = pg_reader
    admin = await asyncpg.connect(make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(False))
    try:
        transaction = admin.transaction()
        await transaction.start()
        await admin.execute("LOCK TABLE members IN ACCESS EXCLUSIVE MODE")  # the reader's SELECT now waits
        blocked = asyncio.ensure_future(reader.fetch("user_1"))
        await asyncio.sleep(0.3)
        assert not blocked.done()
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        await transaction.rollback()
    finally:
        await admin.close()
    row = await reader.fetch("user_1")
    assert row is not None
    assert row["email"] == "a@example.com"


async def test_connections_killed_by_the_server_are_replaced(pg_reader: tuple[UserReader, AsyncEngine, str]) -> None:
    """An idle connection the server terminated (restart, idle timeout) is noticed and replaced, not used."""
    reader, engine, database = pg_reader
    await engine.dispose()
    assert await reader.fetch("user_1") is not None
    before = await reader_backends(database)
    assert before
    admin = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", before)
    finally:
        await admin.close()
    await asyncio.sleep(0.5)  # the event loop sees the closed sockets
    row = await reader.fetch("user_1")
    assert row is not None
    assert set(await reader_backends(database)).isdisjoint(before)
