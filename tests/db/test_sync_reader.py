"""The sync store's steady-state read (``SQLAlchemyStore.read`` on its direct ``SyncUserReader``) on real
PostgreSQL (psycopg), with real threads; and where the store keeps its session path instead."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import scoped_session, sessionmaker

from clerk_sync.db import SQLAlchemyStore, User, create_sync_engine_for
from clerk_sync.errors import DatabaseUnavailableError, UserDeletedError
from clerk_sync.profile import UserDeletion
from tests.databases import POSTGRES_ADMIN_URL
from tests.db.factories import profile
from tests.db.sync_readers import THREADS, assert_steady_state_read, reading_store, steady_engine
from tests.support import Statements, eventually, recording

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    """A psycopg engine on a fresh database holding the default tables, with one user in its steady state."""
    with steady_engine(postgres_url) as engine:
        yield engine


@pytest.fixture
def store(engine: Engine) -> Iterator[SQLAlchemyStore[User]]:
    """The sync store on the engine, reading on its threads' own connections."""
    with reading_store(engine) as store:
        yield store


def _backends(engine: Engine) -> dict[int, str]:
    """The server's backends on ``engine``'s database (pid to state), seen from the admin database."""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (make_url(str(engine.url)).database,),
        ).fetchall()
    return {int(pid): str(state) for pid, state in rows}


def _terminate(pids: object) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (list(pids),))  # type: ignore[call-overload]


async def test_steady_state_is_one_read_on_the_thread_connection_and_nothing_else(
    store: SQLAlchemyStore[User], engine: Engine
) -> None:
    """An unchanged profile: one SELECT, on the reader, none through the engine (no checkout, no ping, no
    rollback), no write; the user equals what the session path loads, detached and fully readable."""
    assert_steady_state_read(store, engine)


async def test_a_missing_changed_or_deleted_row_leaves_the_work_to_sync(store: SQLAlchemyStore[User]) -> None:
    """One direct read each: a miss and a change answer None (``sync`` writes), a tombstone raises."""
    assert store.read(profile(clerk_id="user_new", email="n@example.com")) is None
    assert store.read(profile(email="changed@example.com", version=2_000)) is None
    assert store.sync(profile(email="changed@example.com", version=2_000)).action == "updated"
    store.delete(UserDeletion(clerk_id="user_1", version=3_000))
    with pytest.raises(UserDeletedError):
        store.read(profile(email="changed@example.com", version=4_000))


async def test_threads_each_keep_their_own_autocommit_connection(store: SQLAlchemyStore[User], engine: Engine) -> None:
    """Threads reading at once hold one connection each, never another's; they stay open across reads, outside
    any transaction ("idle", not "idle in transaction"), and ``close()`` closes them all."""
    reader = store.reader
    assert reader is not None
    engine.dispose()  # only the reader's connections remain on the server
    barrier = threading.Barrier(THREADS)
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def read_twice() -> None:
        for _ in range(2):
            barrier.wait()  # every thread reads while the others do
            assert store.read(profile(email="a@example.com", version=2_000)) is not None
            connection = reader._local.connection
            with lock:
                seen.append((threading.get_ident(), id(connection)))

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(read_twice) for _ in range(THREADS)]:
            future.result()

    by_thread: dict[int, set[int]] = {}
    for thread, connection in seen:
        by_thread.setdefault(thread, set()).add(connection)
    assert len(by_thread) == THREADS
    assert all(len(connections) == 1 for connections in by_thread.values())  # kept across reads
    assert len({next(iter(c)) for c in by_thread.values()}) == THREADS  # never shared
    backends = _backends(engine)
    assert len(backends) == THREADS
    assert set(backends.values()) == {"idle"}

    store.close()

    async def all_gone() -> bool:
        return _backends(engine) == {}

    await eventually(all_gone, within=5, failure="the reader's connections outlived close()")


async def test_a_terminated_backend_costs_at_most_one_unavailable_error_then_reads_recover(
    store: SQLAlchemyStore[User], engine: Engine
) -> None:
    """Threads in their steady state while every backend of the database is terminated (reader's and pool's):
    each thread sees at most one ``DatabaseUnavailableError`` (never anything else), then reads again, and
    the reader answers once more on fresh connections."""
    assert store.reader is not None
    stop = threading.Event()
    warmed = threading.Barrier(THREADS + 1)
    errors: dict[int, list[BaseException]] = {}
    after: dict[int, int] = {}

    def steady(index: int) -> None:
        errors[index] = []
        after[index] = 0
        assert store.read(profile(email="a@example.com", version=2_000)) is not None
        warmed.wait()
        while not stop.is_set():
            try:
                result = store.read(profile(email="a@example.com", version=2_000))
            except DatabaseUnavailableError as error:
                errors[index].append(error)
                continue
            assert result is not None
            if errors[index] or terminated.is_set():
                after[index] += 1

    terminated = threading.Event()
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(steady, index) for index in range(THREADS)]
        warmed.wait()
        old = set(_backends(engine))
        _terminate(old)
        terminated.set()
        await asyncio.sleep(1.0)  # the threads keep reading through the kill
        stop.set()
        for future in futures:
            future.result()

    assert all(len(found) <= 1 for found in errors.values()), errors
    assert all(count > 0 for count in after.values()), after  # every thread read again after the kill
    direct = Statements()
    store.reader.trace(direct.record)
    assert store.read(profile(email="a@example.com", version=2_000)) is not None
    assert direct.kinds == ["SELECT"]  # the reader itself answers again: it does not stand aside
    assert set(_backends(engine)).isdisjoint(old)


async def test_a_reader_that_cannot_connect_leaves_the_outage_to_the_session_path(postgres_url: str) -> None:
    """With the server unreachable the read is the usual typed outage (503), not a driver error or a 500."""
    url = make_url(create_sync_engine_for(postgres_url).url).set(port=1)
    engine = create_sync_engine_for(url, connect_args={"connect_timeout": 1})
    store = SQLAlchemyStore(engine)
    assert store.reader is not None
    try:
        with pytest.raises(DatabaseUnavailableError):
            store.read(profile(email="a@example.com"))
    finally:
        store.close()
        engine.dispose()


async def test_session_factories_and_direct_reads_off_keep_the_session_path(engine: Engine) -> None:
    """No reader for ``direct_reads=False``, a ``sessionmaker`` or a ``scoped_session`` (the app's session
    decides the bind and may carry events); their steady state reads through a session. (An SQLite file has
    a reader: ``test_sync_reader_sqlite.py``.)"""
    factory = sessionmaker(engine)
    stores = [
        SQLAlchemyStore(engine, direct_reads=False),
        SQLAlchemyStore(factory),
        SQLAlchemyStore(scoped_session(factory)),
    ]
    for store in stores:
        assert store.reader is None
        with recording(engine) as via_engine:
            result = store.read(profile(email="a@example.com", version=2_000))
        assert result is not None
        assert result.action == "unchanged"
        assert via_engine.kinds[-1:] == ["SELECT"]
