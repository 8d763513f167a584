"""No personal data in logs: the engines clerk-sync creates never show a statement's parameters.

The parameters of the sync engine's statements are a user's email and names. With ``hide_parameters`` SQLAlchemy
leaves them out of its echo log and of every exception's text; aiosqlite's own DEBUG log names the calls it
runs without their arguments. Each test fails if the value shows up anywhere a log handler or a traceback
would put it, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
import traceback

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert

from clerk_sync.db import AsyncSQLAlchemyStore, Base, SQLAlchemyStore, User, create_engine
from tests.db.factories import profile

pytestmark = pytest.mark.anyio

EMAIL = "ada.private@example.com"
NAME = "Adaprivatename"


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record as a handler would write it: message, arguments and traceback."""
    formatter = logging.Formatter("%(name)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


async def test_echoed_statements_show_no_parameters(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """With ``echo=True`` (and every logger at DEBUG) the INSERT of a new user is logged, its email and name
    are not (before: SQLAlchemy logged ``('user_1', 'ada.private@example.com', ...)`` at INFO)."""
    caplog.set_level(logging.DEBUG)
    engine = create_engine(db_url, echo=True)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        store = AsyncSQLAlchemyStore(engine)
        await store.sync(profile(email=EMAIL, first_name=NAME))
        await store.close()
    finally:
        await engine.dispose()
    logged = everything_logged(caplog)
    assert "INSERT INTO users" in logged  # the statement itself is still there to debug with
    assert EMAIL not in logged
    assert NAME not in logged


async def test_a_failing_statement_shows_no_parameters(db_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A statement the database rejects raises an error whose text and traceback hold no parameter, and
    nothing logged around it does either (before: ``[parameters: (..., 'ada.private@example.com', ...)]``)."""
    caplog.set_level(logging.DEBUG)
    engine = create_engine(db_url, echo=True)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        statement = insert(User).values(clerk_id="user_1", email=EMAIL, first_name=NAME)
        async with engine.begin() as connection:
            await connection.execute(statement)
        with pytest.raises(sa_exc.IntegrityError) as raised:
            async with engine.begin() as connection:
                await connection.execute(statement)
    finally:
        await engine.dispose()
    trace = "".join(traceback.format_exception(raised.value))
    assert "parameters hidden" in trace
    for text in (trace, everything_logged(caplog)):
        assert EMAIL not in text
        assert NAME not in text


async def test_every_engine_clerk_sync_creates_hides_parameters(db_url: str) -> None:
    """The async and the sync store's engines, and on an SQLite file the in-loop reader beside them; an
    explicit ``hide_parameters=False`` (local debugging) is still honoured."""
    store = AsyncSQLAlchemyStore.from_url(db_url)
    sync_store = SQLAlchemyStore.from_url(db_url)
    debugging = create_engine(db_url, hide_parameters=False)
    try:
        assert store.engine.sync_engine.hide_parameters
        assert sync_store.sessionmaker.kw["bind"].hide_parameters
        in_loop = getattr(store.reader, "_driver", None)  # the SQLite reader's private engine, if any
        reader_engine = getattr(in_loop, "_reader", None)
        assert (reader_engine is None) == db_url.startswith("postgresql")
        assert reader_engine is None or reader_engine.hide_parameters
        assert not debugging.sync_engine.hide_parameters
    finally:
        await store.close()
        sync_store.close()
        await debugging.dispose()
