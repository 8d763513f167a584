"""The async store's steady-state read (``AsyncSQLAlchemyStore.read`` on its direct ``UserReader``) on real SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import String, event, select
from sqlalchemy import inspect as orm_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, deferred, mapped_column

from clerk_sync.db import AsyncSQLAlchemyStore, ClerkUserMixin, create_engine, create_sessionmaker
from clerk_sync.db.reader import READER_POOL_SIZE, UserReader, open_user_reader
from clerk_sync.errors import UserDeletedError
from clerk_sync.profile import UserDeletion
from tests.databases import POSTGRES_ADMIN_URL, sqlite_url
from tests.db.factories import profile
from tests.support import AppBase, eventually

pytestmark = pytest.mark.anyio


class Member(ClerkUserMixin, AppBase):
    """An app's own model: an extra column, and a deferred one the reader must leave alone."""

    __tablename__ = "members"
    nickname: Mapped[str | None] = mapped_column(String(50), default=None)
    biography: Mapped[str | None] = deferred(mapped_column(String(2000), default=None))


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    async with engine.begin() as connection:
        await connection.run_sync(AppBase.metadata.create_all, tables=[AppBase.metadata.tables[Member.__tablename__]])
    yield engine
    await engine.dispose()


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[AsyncSQLAlchemyStore[Member]]:
    """The async store on the app's model, reading on the driver."""
    store = AsyncSQLAlchemyStore(engine, Member)
    yield store
    await store.close()


@pytest.fixture
def reader(store: AsyncSQLAlchemyStore[Member]) -> UserReader:
    """The store's direct reader (every file or PostgreSQL database has one)."""
    assert store.reader is not None
    return store.reader


async def test_reader_values_equal_what_the_orm_loads(
    engine: AsyncEngine, store: AsyncSQLAlchemyStore[Member], reader: UserReader
) -> None:
    """Every loaded column (JSON documents, aware datetimes, the app's extra column) reads back as the ORM's."""
    await store.sync(profile(email="a@example.com", first_name="Ada", public_metadata={"plan": "pro", "n": [1, 2]}))
    async with create_sessionmaker(engine)() as session:
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
    """A user never stored is told apart from "cannot answer now" (None)."""
    with pytest.raises(LookupError):
        await reader.fetch("user_nobody")


async def test_read_answers_the_steady_state_and_defers_writes(store: AsyncSQLAlchemyStore[Member]) -> None:
    """Unchanged or stale: a detached user as loaded. A miss or a change: None (``sync`` must write)."""
    assert await store.read(profile(email="a@example.com")) is None  # first sight
    await store.sync(profile(email="a@example.com", version=2_000))
    unchanged = await store.read(profile(email="a@example.com", version=3_000))
    assert unchanged is not None
    assert unchanged.action == "unchanged"
    state = orm_inspect(unchanged.user)
    assert state.detached
    assert state.key is not None
    assert not state.modified
    assert unchanged.user.email == "a@example.com"
    stale = await store.read(profile(email="old@example.com", version=1_000))
    assert stale is not None
    assert stale.action == "stale"
    assert await store.read(profile(email="new@example.com", version=4_000)) is None  # a change


async def test_read_refuses_a_tombstone(store: AsyncSQLAlchemyStore[Member]) -> None:
    """A tombstone read on the driver is refused exactly as ``sync`` refuses it."""
    await store.sync(profile(email="a@example.com"))
    await store.delete(UserDeletion("user_1", 5_000))
    with pytest.raises(UserDeletedError):
        await store.read(profile(email="a@example.com", version=9_000))


async def test_reader_user_binds_to_a_session_and_its_changes_commit(
    engine: AsyncEngine, store: AsyncSQLAlchemyStore[Member]
) -> None:
    """``session.add`` attaches the detached user without a query; a change then flushes as an UPDATE."""
    sessions = create_sessionmaker(engine)
    await store.sync(profile(email="a@example.com"))
    result = await store.read(profile(email="a@example.com"))
    assert result is not None
    async with sessions() as session:
        session.add(result.user)
        result.user.nickname = "lovelace"
        await session.commit()
    async with sessions() as session:
        assert (await session.execute(select(Member.nickname))).scalar_one() == "lovelace"


async def test_steady_state_on_an_sqlite_file_skips_aiosqlite(tmp_path: Path) -> None:
    """On an SQLite file the steady state is one SELECT in the event loop: aiosqlite sees no statement."""
    engine = create_engine(sqlite_url(tmp_path))
    async with engine.begin() as connection:
        await connection.run_sync(AppBase.metadata.create_all, tables=[AppBase.metadata.tables[Member.__tablename__]])
    store = AsyncSQLAlchemyStore(engine, Member)
    await store.sync(profile(email="a@example.com"))
    via_aiosqlite: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: via_aiosqlite.append(str(args[2])))
    direct: list[str] = []
    assert store.reader is not None
    store.reader.trace(direct.append)
    result = await store.read(profile(email="a@example.com"))
    assert result is not None
    assert result.action == "unchanged"
    await store.close()
    await engine.dispose()
    assert [sql.split()[0] for sql in direct] == ["SELECT"]
    assert via_aiosqlite == []


async def test_without_direct_reads_the_session_answers(engine: AsyncEngine) -> None:
    """``direct_reads=False`` (or a database the reader cannot serve) still gives the steady state: one SELECT
    through the engine's sessions, the same verdicts."""
    store = AsyncSQLAlchemyStore(engine, Member, direct_reads=False)
    assert store.reader is None
    await store.sync(profile(email="a@example.com"))
    seen: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: seen.append(str(args[2])))
    result = await store.read(profile(email="a@example.com"))
    assert result is not None
    assert (result.action, result.user.email) == ("unchanged", "a@example.com")
    assert orm_inspect(result.user).detached
    assert [sql.split()[0] for sql in seen] == ["SELECT"]
    await store.close()


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
    """A store built from a URL gives its reader's connections the engine's server settings (the 5 s lock
    timeout, the statement timeout)."""
    store = AsyncSQLAlchemyStore.from_url(postgres_url, Member)
    reader = store.reader
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
        await store.close()
    assert seen == ["5s", make_url(postgres_url).database]


@pytest.fixture
async def pg_reader(postgres_url: str) -> AsyncIterator[tuple[UserReader, AsyncEngine, str]]:
    engine = create_engine(postgres_url)
    async with engine.begin() as connection:
        await connection.run_sync(AppBase.metadata.create_all, tables=[AppBase.metadata.tables[Member.__tablename__]])
    store = AsyncSQLAlchemyStore(engine, Member, direct_reads=False)
    await store.sync(profile(email="a@example.com"))
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

        async def waiting_on_the_lock() -> bool:
            await admin.execute("SELECT pg_stat_clear_snapshot()")  # a transaction caches the activity view
            found = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", database
            )
            return bool(found)

        await eventually(waiting_on_the_lock, within=10, failure="the reader's SELECT never waited on the lock")
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
