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

from clerk_sync.db import Base, User, UserSync, create_engine, create_sessionmaker
from clerk_sync.db.engine import sqlite_reader
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
        async with create_sessionmaker(engine)() as session:
            await UserSync().sync(session, profile(email=EMAIL, first_name=NAME))
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
    """The request engine, and on an SQLite file the in-loop reader beside it; an explicit
    ``hide_parameters=False`` (local debugging) is still honoured."""
    engine = create_engine(db_url)
    debugging = create_engine(db_url, hide_parameters=False)
    try:
        assert engine.sync_engine.hide_parameters
        reader = sqlite_reader(engine)
        assert reader is None or reader.hide_parameters
        assert (reader is None) == db_url.startswith("postgresql")
        assert not debugging.sync_engine.hide_parameters
    finally:
        await engine.dispose()
        await debugging.dispose()
