"""The sync store's direct read on an SQLite file (pysqlite), with real threads and a real writer beside it; and
why an in-memory database keeps the session path."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine

from clerk_sync.db import Base, SQLAlchemyStore, User, create_sync_engine_for
from clerk_sync.errors import UserDeletedError
from clerk_sync.profile import UserDeletion
from tests.databases import sqlite_url
from tests.db.factories import profile
from tests.db.sync_readers import THREADS, assert_steady_state_read, reading_store, steady_engine


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A pysqlite engine on a fresh file holding the default tables, with one user in its steady state."""
    with steady_engine(sqlite_url(tmp_path)) as engine:
        yield engine


@pytest.fixture
def store(engine: Engine) -> Iterator[SQLAlchemyStore[User]]:
    """The sync store on the engine, reading on its threads' own connections."""
    with reading_store(engine) as store:
        yield store


def test_steady_state_is_one_select_on_the_reader_and_none_through_the_engine(
    store: SQLAlchemyStore[User], engine: Engine
) -> None:
    """An unchanged profile on an SQLite file: one SELECT on the reader's connection, no checkout, no write;
    the user equals what a session loads."""
    assert_steady_state_read(store, engine)


def test_a_write_from_another_connection_is_seen_by_the_next_read(store: SQLAlchemyStore[User], engine: Engine) -> None:
    """The reader's connection is in autocommit, so it holds no snapshot between reads: a change committed by
    another store (another worker process, a webhook) is what the very next read sees, and so is a tombstone."""
    assert store.read(profile(email="a@example.com", version=2_000)) is not None  # the connection is open now
    other = SQLAlchemyStore(engine, direct_reads=False)
    assert other.sync(profile(email="b@example.com", version=3_000)).action == "updated"

    seen = store.read(profile(email="b@example.com", version=3_000))
    assert seen is not None
    assert seen.user.email == "b@example.com"
    older = store.read(profile(email="a@example.com", version=2_000))  # a token minted before the change
    assert older is not None
    assert older.action == "stale"  # the newer row wins, as read from the other store's commit
    assert older.user.email == "b@example.com"

    other.delete(UserDeletion(clerk_id="user_1", version=4_000))
    with pytest.raises(UserDeletedError):
        store.read(profile(email="b@example.com", version=5_000))


def test_threads_read_on_their_own_connections_while_a_writer_commits(
    store: SQLAlchemyStore[User], engine: Engine
) -> None:
    """Eight threads read for half a second while another thread keeps updating the row: no read fails (WAL
    readers never wait for the writer), each thread keeps one connection of its own, and after the writer's
    last commit every thread reads that version."""
    reader = store.reader
    assert reader is not None
    stop = threading.Event()
    writer_store = SQLAlchemyStore(engine, direct_reads=False)
    written: list[int] = []

    def write() -> None:
        version = 2_000
        while not stop.is_set():
            version += 1
            writer_store.sync(profile(email=f"v{version}@example.com", version=version))
            written.append(version)

    connections: dict[int, set[int]] = {}
    lock = threading.Lock()

    def read() -> int:
        reads = 0
        while not stop.is_set():
            store.read(profile(email="a@example.com", version=1_500))  # raises on any failure
            reads += 1
            with lock:
                connections.setdefault(threading.get_ident(), set()).add(id(reader._local.connection))
        return reads

    with ThreadPoolExecutor(THREADS + 1) as pool:
        writer = pool.submit(write)
        readers = [pool.submit(read) for _ in range(THREADS)]
        time.sleep(0.5)
        stop.set()
        writer.result()
        counts = [future.result() for future in readers]

    assert written
    assert all(count > 0 for count in counts)
    assert all(len(found) == 1 for found in connections.values())
    last = written[-1]

    def final() -> object:
        result = store.read(profile(email=f"v{last}@example.com", version=last))
        return None if result is None else result.action

    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(lambda _: final(), range(THREADS))) == ["unchanged"] * THREADS


def test_an_in_memory_database_keeps_the_session_path() -> None:
    """``:memory:`` is one connection's own database: a reader's connection would open an empty one, so the
    store has no reader and its steady-state read goes through a session."""
    engine = create_sync_engine_for("sqlite+pysqlite:///:memory:")
    try:
        Base.metadata.create_all(engine)
        store = SQLAlchemyStore(engine)
        assert store.reader is None
        store.sync(profile(email="a@example.com"))
        result = store.read(profile(email="a@example.com", version=2_000))
        assert result is not None
        assert result.action == "unchanged"
    finally:
        engine.dispose()
