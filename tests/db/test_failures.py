"""A database that cannot be reached surfaces as ``DatabaseUnavailableError``, never as a driver error; a value
the database refuses is a refusal of the data, never an outage."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from clerk_sync.db import (
    AsyncSQLAlchemyStore,
    Base,
    User,
    create_engine,
    is_data_error,
    is_unavailable,
)
from clerk_sync.errors import DatabaseUnavailableError, TokenClaimInvalidError
from clerk_sync.profile import UserDeletion
from tests.databases import drop_postgres_database, temporary_postgres_database
from tests.db.factories import profile

pytestmark = pytest.mark.anyio


async def _every_operation_fails(url: str) -> None:
    store = AsyncSQLAlchemyStore.from_url(url)
    try:
        with pytest.raises(DatabaseUnavailableError) as raised:
            await store.sync(profile(email="a@example.com"))
        assert raised.value.code == "database-unavailable"
        with pytest.raises(DatabaseUnavailableError):
            await store.read(profile(email="a@example.com"))
        with pytest.raises(DatabaseUnavailableError):
            await store.delete(UserDeletion("user_1", 1_000))
        with pytest.raises(DatabaseUnavailableError):
            await store.apply_webhook("msg_1", "user.deleted", UserDeletion("user_1", 1))
        with pytest.raises(DatabaseUnavailableError):
            await store.plan(profile(email="a@example.com"))
        with pytest.raises(DatabaseUnavailableError):
            await store.last_webhook_at()
    finally:
        await store.close()


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
            store = AsyncSQLAlchemyStore(engine)
            await store.sync(profile(email="a@example.com"))
            await drop_postgres_database(str(make_url(url).database))

            with pytest.raises(DatabaseUnavailableError):
                await store.sync(profile(version=2_000, email="b@example.com"))
            await store.close()
        finally:
            await engine.dispose()


@pytest.mark.postgres
async def test_postgres_connection_terminated_inside_a_transaction() -> None:
    """A backend killed between the read and the write (failover, admin) is translated, not leaked."""
    async with temporary_postgres_database() as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)

            # The store's own transaction: once its read ran, its backend is terminated, before the upsert.
            @event.listens_for(engine.sync_engine, "before_cursor_execute")
            def kill_before_insert(_conn: Any, cursor: Any, statement: str, *_: Any) -> None:
                if statement.lstrip().upper().startswith("INSERT"):
                    cursor.execute(_TERMINATE_SELF)

            store = AsyncSQLAlchemyStore(engine, direct_reads=False)
            with pytest.raises(DatabaseUnavailableError):
                await store.sync(profile(email="a@example.com"))
            await store.close()
        finally:
            await engine.dispose()


_TERMINATE_SELF = "SELECT pg_terminate_backend(pg_backend_pid())"


def test_bugs_stay_loud() -> None:
    """Integrity and programming errors are bugs, not outages: they are not translated."""
    orig = Exception("boom")
    assert not is_unavailable(sa_exc.IntegrityError("INSERT", {}, orig))
    assert not is_unavailable(sa_exc.ProgrammingError("SELECT", {}, orig))
    assert is_unavailable(sa_exc.OperationalError("SELECT", {}, orig))
    assert is_unavailable(sa_exc.DBAPIError("SELECT", {}, orig, connection_invalidated=True))
    assert is_unavailable(ConnectionRefusedError())
    assert not is_unavailable(ValueError())


# --- refused values are the data's fault, not an outage --------------------------------------------------

#: Values the pre-write checks would refuse, sent straight to the database to see how it refuses them.
REFUSED_VALUES: dict[str, dict[str, Any]] = {
    "clerk_id-too-long": {"clerk_id": "u" * 300},
    "email-not-text": {"clerk_id": "user_2", "email": 42},
    "name-with-nul": {"clerk_id": "user_3", "first_name": "a\x00b"},
    "name-lone-surrogate": {"clerk_id": "user_4", "first_name": "a\ud800"},
    "metadata-nul": {"clerk_id": "user_5", "public_metadata": {"k": "\x00"}},
    "version-beyond-bigint": {"clerk_id": "user_6", "clerk_version": 2**63},
    "duplicate-clerk_id": {"clerk_id": "user_1"},
    "not-bindable": {"clerk_id": "user_7", "email": {"a": 1}},
}


#: What SQLite stores as given (and hands back changed, or not at all on PostgreSQL): the checks refuse these.
STORED_BY_SQLITE = {"clerk_id-too-long", "email-not-text", "name-with-nul", "metadata-nul"}


@pytest.mark.parametrize("case", list(REFUSED_VALUES))
async def test_what_each_database_refuses_is_a_data_error(db_url: str, case: str) -> None:
    """Whatever each backend does with a value it cannot store (PostgreSQL: SQLSTATE 22/23, often as a plain
    ``DBAPIError``; SQLite: ``IntegrityError``, a binding error, a raw ``OverflowError``), it is a data error,
    never "unavailable" (before: PostgreSQL's were all ``database-unavailable``)."""
    engine = create_engine(db_url)
    statement = insert(User).values(**REFUSED_VALUES[case])
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(insert(User).values(clerk_id="user_1"))
        if db_url.startswith("sqlite") and case in STORED_BY_SQLITE:
            async with engine.begin() as connection:
                await connection.execute(statement)
            return
        with pytest.raises((sa_exc.SQLAlchemyError, OverflowError, UnicodeEncodeError)) as raised:
            async with engine.begin() as connection:
                await connection.execute(statement)
    finally:
        await engine.dispose()
    assert is_data_error(raised.value), repr(raised.value)
    assert not is_unavailable(raised.value)


LONG_NAME = "Augusta"  # not on a line of the traceback below, so finding it there means it leaked


@pytest.mark.postgres
async def test_a_value_postgres_refuses_is_the_sources_refusal_with_nothing_chained(postgres_url: str) -> None:
    """Past the pre-write checks (an app constraint they cannot know): the sync engine answers with the
    source's refusal, after rolling back, with no driver error chained that could quote the value."""
    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(
                text("ALTER TABLE users ADD CONSTRAINT short_names CHECK (length(first_name) < 4)")
            )
        store = AsyncSQLAlchemyStore(engine)
        with pytest.raises(TokenClaimInvalidError) as raised:
            await store.sync(profile(first_name=LONG_NAME))
        assert raised.value.__cause__ is None
        assert raised.value.__suppress_context__
        assert LONG_NAME not in "".join(traceback.format_exception(raised.value))
        pool: Any = engine.sync_engine.pool  # a QueuePool: it counts connections in use
        assert pool.checkedout() == 0  # the transaction was rolled back and its connection released
        assert (await store.sync(profile(first_name="Ada"))).action == "created"
        await store.close()
    finally:
        await engine.dispose()


def test_data_errors_are_classified_without_a_database() -> None:
    """SQLSTATE 22/23 on any ``DBAPIError`` is a data error, other states are not; a broken connection is
    unavailability whatever it says; conversion errors raised before the driver are data errors."""

    class Orig(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__("boom")
            self.sqlstate = sqlstate

    assert is_data_error(sa_exc.DBAPIError("INSERT", {}, Orig("22001")))
    assert is_data_error(sa_exc.DBAPIError("INSERT", {}, Orig("23505")))
    assert not is_data_error(sa_exc.DBAPIError("INSERT", {}, Orig("57P01")))
    assert is_unavailable(sa_exc.DBAPIError("INSERT", {}, Orig("57P01")))
    assert not is_data_error(sa_exc.DBAPIError("INSERT", {}, Orig("22001"), connection_invalidated=True))
    assert is_data_error(sa_exc.StatementError("bind", "INSERT", {}, TypeError("not JSON serializable")))
    assert not is_data_error(sa_exc.ProgrammingError("SELECT", {}, Exception("no such table")))
