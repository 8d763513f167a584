"""A database that cannot be reached surfaces as ``DatabaseUnavailableError``, never as a driver error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from clerk_sync.db import Base, User, UserDeletion, UserSync, create_engine, create_sessionmaker, is_unavailable
from clerk_sync.errors import DatabaseUnavailableError
from tests.databases import drop_postgres_database, temporary_postgres_database
from tests.db.factories import profile

pytestmark = pytest.mark.anyio


async def _every_operation_fails(url: str) -> None:
    engine = create_engine(url)
    sync: UserSync[User] = UserSync()
    try:
        async with create_sessionmaker(engine)() as session:
            with pytest.raises(DatabaseUnavailableError) as raised:
                await sync.sync(session, profile(email="a@example.com"))
            assert raised.value.code == "database-unavailable"
        async with create_sessionmaker(engine)() as session:
            with pytest.raises(DatabaseUnavailableError):
                await sync.delete(session, "user_1", 1_000)
        async with create_sessionmaker(engine)() as session:
            with pytest.raises(DatabaseUnavailableError):
                await sync.apply_webhook(
                    session, svix_id="msg_1", event_type="user.deleted", change=UserDeletion("user_1", 1)
                )
        async with create_sessionmaker(engine)() as session:
            with pytest.raises(DatabaseUnavailableError):
                await sync.last_webhook_at(session)
    finally:
        await engine.dispose()


async def test_closed_postgres_port() -> None:
    """Nothing listens on port 1: asyncpg's raw ``ConnectionRefusedError`` is translated."""
    await _every_operation_fails("postgresql+asyncpg://postgres@127.0.0.1:1/none")


async def test_sqlite_file_that_cannot_be_opened(tmp_path: Path) -> None:
    """An SQLite path in a missing directory is translated too."""
    await _every_operation_fails(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")


@pytest.mark.postgres
async def test_postgres_database_dropped_under_a_running_engine() -> None:
    """Connections terminated and the database gone mid-flight: the next sync reports unavailability."""
    async with temporary_postgres_database() as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            sessions = create_sessionmaker(engine)
            async with sessions() as session:
                await UserSync().sync(session, profile(email="a@example.com"))
            await drop_postgres_database(str(make_url(url).database))

            async with sessions() as session:
                with pytest.raises(DatabaseUnavailableError):
                    await UserSync().sync(session, profile(version=2_000, email="b@example.com"))
        finally:
            await engine.dispose()


@pytest.mark.postgres
async def test_postgres_connection_terminated_inside_a_session() -> None:
    """A backend killed between the read and the write (failover, admin) is translated, not leaked."""
    async with temporary_postgres_database() as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            async with create_sessionmaker(engine)() as session:
                await session.execute(Base.metadata.tables["users"].select())
                pid = (await session.execute(_pid())).scalar_one()
                async with create_sessionmaker(engine)() as killer:
                    await killer.execute(_terminate(pid))
                with pytest.raises(DatabaseUnavailableError):
                    await UserSync().sync(session, profile(email="a@example.com"))
        finally:
            await engine.dispose()


def _pid() -> TextClause:
    return text("SELECT pg_backend_pid()")


def _terminate(pid: int) -> TextClause:
    return text("SELECT pg_terminate_backend(:pid)").bindparams(pid=pid)


def test_bugs_stay_loud() -> None:
    """Integrity and programming errors are bugs, not outages: they are not translated."""
    orig = Exception("boom")
    assert not is_unavailable(sa_exc.IntegrityError("INSERT", {}, orig))
    assert not is_unavailable(sa_exc.ProgrammingError("SELECT", {}, orig))
    assert is_unavailable(sa_exc.OperationalError("SELECT", {}, orig))
    assert is_unavailable(sa_exc.DBAPIError("SELECT", {}, orig, connection_invalidated=True))
    assert is_unavailable(ConnectionRefusedError())
    assert not is_unavailable(ValueError())
