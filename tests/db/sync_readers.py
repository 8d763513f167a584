"""What the direct-read tests of the sync store share, on PostgreSQL (``test_sync_reader.py``) and on SQLite
files (``test_sync_reader_sqlite.py``): the database they start from and the steady-state check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from clerk_sync.db import Base, SQLAlchemyStore, User, create_sync_engine_for
from tests.db.factories import profile
from tests.support import Statements, recording

__all__ = ["THREADS", "assert_steady_state_read", "reading_store", "steady_engine"]

THREADS = 8


@contextmanager
def steady_engine(url: str) -> Iterator[Engine]:
    """A sync engine on ``url``'s fresh database holding the default tables, with one user in its steady state
    (``user_1``, ``a@example.com``, version 1000), sized for ``THREADS`` threads."""
    engine = create_sync_engine_for(url, pool_size=THREADS, max_overflow=0)
    try:
        Base.metadata.create_all(engine)
        SQLAlchemyStore(engine, direct_reads=False).sync(profile(email="a@example.com", first_name="Ada"))
        yield engine
    finally:
        engine.dispose()


@contextmanager
def reading_store(engine: Engine) -> Iterator[SQLAlchemyStore[User]]:
    """The sync store on ``engine``, reading on its threads' own connections (it must have a reader)."""
    store = SQLAlchemyStore(engine)
    assert store.reader is not None
    try:
        yield store
    finally:
        store.close()


def assert_steady_state_read(store: SQLAlchemyStore[User], engine: Engine) -> None:
    """An unchanged profile reads as one SELECT on the reader and nothing through the engine (no checkout, no
    ping, no rollback, no write), and the user equals what a session loads."""
    assert store.reader is not None
    direct = Statements()
    store.reader.trace(direct.record)
    with recording(engine) as via_engine:
        result = store.read(profile(email="a@example.com", version=2_000))

    assert result is not None
    assert result.action == "unchanged"
    assert direct.kinds == ["SELECT"]
    assert via_engine.sql == []
    with Session(engine) as session:
        loaded = session.scalars(select(User)).one()
    for column in User.__table__.columns.keys():  # noqa: SIM118  (names, not Column objects)
        assert getattr(result.user, column) == getattr(loaded, column), column
    assert result.user.id == loaded.id
