"""The sync store (``SQLAlchemyStore``) as a WSGI app uses it: real threads, real PostgreSQL (psycopg) and SQLite.

The rules shared with the async store (versions, tombstones, absent claims, the ledger) run through both stores
in ``test_sync.py`` and ``test_webhooks.py``; here the sync store's own guarantees under thread races, and the
session factories a Flask-SQLAlchemy app hands it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from clerk_sync.db import Base, SQLAlchemyStore, SyncResult, User, create_sync_engine_for
from clerk_sync.errors import UserDeletedError
from clerk_sync.profile import Source, UserDeletion
from tests.db.factories import profile

pytestmark = pytest.mark.anyio

THREADS = 32


@pytest.fixture
def sync_engine(db_url: str) -> Iterator[Engine]:
    """A synchronous engine (psycopg v3 on PostgreSQL, pysqlite on SQLite) holding the default tables."""
    engine = (
        create_sync_engine_for(db_url, pool_size=THREADS, max_overflow=0)
        if "postgresql" in db_url
        else (create_sync_engine_for(db_url))
    )
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def _race(action: object, count: int = THREADS) -> list[object]:
    """Run ``action`` on ``count`` threads released together by a barrier, so they really overlap."""
    barrier = threading.Barrier(count)

    def run() -> object:
        barrier.wait()
        return action()  # type: ignore[operator]

    with ThreadPoolExecutor(count) as pool:
        return [future.result() for future in [pool.submit(run) for _ in range(count)]]


async def test_threads_racing_on_a_new_user_make_one_row(sync_engine: Engine) -> None:
    """32 threads' first requests for one new user: one row, one ``created`` (and one hook call), one id."""
    created: list[str] = []
    store = SQLAlchemyStore(sync_engine, on_user_created=lambda result: created.append(result.user.clerk_id))

    results = _race(lambda: store.sync(profile(email="a@example.com", first_name="Ada")))

    typed = [result for result in results if isinstance(result, SyncResult)]
    assert len(typed) == THREADS
    assert len({result.user.id for result in typed}) == 1
    assert [result.action for result in typed].count("created") == 1
    assert {result.action for result in typed} <= {"created", "unchanged"}
    assert created == ["user_1"]
    assert _count(sync_engine) == 1


async def test_threads_racing_versions_converge_on_the_newest(sync_engine: Engine) -> None:
    """Threads writing different versions leave the newest version's data."""
    store = SQLAlchemyStore(sync_engine)
    versions = iter(range(1_000, 1_000 + THREADS))
    lock = threading.Lock()

    def write() -> SyncResult[User]:
        with lock:
            version = next(versions)
        return store.sync(profile(version=version, email=f"v{version}@example.com"))

    _race(write)

    with Session(sync_engine) as session:
        user = session.execute(select(User)).scalar_one()
    newest = 1_000 + THREADS - 1
    assert (user.email, user.clerk_version) == (f"v{newest}@example.com", newest)


async def test_threads_redelivering_one_message_apply_it_once(sync_engine: Engine) -> None:
    """The same Svix message on 32 threads at once: one effect, the rest duplicates."""
    store = SQLAlchemyStore(sync_engine)
    change = profile(source=Source.WEBHOOK, email="a@example.com")

    outcomes = _race(lambda: store.apply_webhook("msg_1", "user.created", change))

    assert sorted(map(str, outcomes)) == ["created"] + ["duplicate"] * (THREADS - 1)


async def test_a_deletion_racing_creates_leaves_a_tombstone(sync_engine: Engine) -> None:
    """A deletion among racing creates ends as a tombstone that every later sync refuses."""
    store = SQLAlchemyStore(sync_engine)
    calls = iter(range(THREADS))
    lock = threading.Lock()

    def act() -> object:
        with lock:
            index = next(calls)
        if index == THREADS // 2:
            return store.delete(UserDeletion("user_1", 500))
        return store.sync(profile(email="a@example.com"), raise_if_deleted=False)

    _race(act)

    with pytest.raises(UserDeletedError):
        store.sync(profile(version=9_000, email="b@example.com"))
    assert _count(sync_engine) == 1


async def test_a_scoped_session_factory_is_used_without_touching_the_apps_session(sync_engine: Engine) -> None:
    """Given a ``scoped_session`` (Flask-SQLAlchemy's ``db.session``, expiring on commit), the store opens its
    own sessions from its factory: the app's pending work is not committed, and users stay readable."""
    app_session = scoped_session(sessionmaker(sync_engine))  # expire_on_commit=True, as Flask-SQLAlchemy's
    store = SQLAlchemyStore(app_session)
    app_session.add(User(clerk_id="user_pending"))

    result = store.sync(profile(email="a@example.com"))

    assert result.user.email == "a@example.com"  # loaded, not expired, although the session is gone
    app_session.rollback()
    app_session.remove()
    with Session(sync_engine) as session:
        assert list(session.scalars(select(User.clerk_id))) == ["user_1"]
    steady = store.read(profile(email="a@example.com", version=2_000))
    assert steady is not None
    assert steady.action == "unchanged"


async def test_from_url_accepts_the_async_url(db_url: str) -> None:
    """One ``DATABASE_URL`` serves both stores: ``from_url`` picks the sync driver (psycopg, pysqlite)."""
    store = SQLAlchemyStore.from_url(db_url)
    engine = store.sessionmaker.kw["bind"]
    try:
        Base.metadata.create_all(engine)
        assert engine.dialect.driver in {"psycopg", "pysqlite"}
        assert store.sync(profile(email="a@example.com")).action == "created"
        assert store.plan(profile(email="a@example.com", version=2_000)) == "unchanged"
        assert store.last_webhook_at() is None
    finally:
        store.close()
