"""Backfill against the test kit's fake Backend API (real HTTP on 127.0.0.1), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from clerk_sync.backend_api import BackendAPI
from clerk_sync.backfill import BackfillReport, PlannedChange, RequestPacer, backfill, rate_limit_for
from clerk_sync.db import AsyncSQLAlchemyStore, User, create_engine, create_sessionmaker, upgrade
from clerk_sync.db.models import BackfillCheckpoint
from clerk_sync.profile import Source, UserProfile
from clerk_sync.testing import FakeClerkBackend, make_user_json
from tests.backfill_users import BASE_MS, SECRET, population
from tests.databases import DATABASE_KINDS, database_url
from tests.support import Sleeps, recording

pytestmark = pytest.mark.anyio

COLUMNS = [column.key for column in inspect(User).columns]


@pytest.fixture(params=DATABASE_KINDS)
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database_url(request.param, tmp_path) as url:
        engine = create_engine(url)
        await upgrade(engine)
        yield create_sessionmaker(engine)
        await engine.dispose()


async def run(
    backend: FakeClerkBackend,
    sessions: async_sessionmaker[AsyncSession],
    sleeps: Sleeps | None = None,
    **kwargs: Any,
) -> BackfillReport:
    async with httpx.AsyncClient() as http:
        api = BackendAPI(http, SECRET, api_url=backend.url, max_attempts=6, sleep=sleeps or Sleeps())
        return await backfill(api, store_of(sessions), **kwargs)


def store_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncSQLAlchemyStore[User]:
    """A store on the test database's engine; it reads through sessions, so it holds no connection to close."""
    return AsyncSQLAlchemyStore(sessions.kw["bind"], direct_reads=False)


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, User]:
    async with sessions() as session:
        return {user.clerk_id: user for user in (await session.execute(select(User))).scalars()}


async def snapshot(sessions: async_sessionmaker[AsyncSession]) -> dict[str, tuple[Any, ...]]:
    """Every column of every row, to prove a run left the table exactly as it was."""
    return {key: tuple(getattr(user, column) for column in COLUMNS) for key, user in (await rows(sessions)).items()}


def _engine(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    """The engine behind ``sessions``, to record what reaches the database."""
    bind = sessions.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    return bind


def counts(report: BackfillReport) -> dict[str, int]:
    names = ("seen", "created", "updated", "unchanged", "stale", "deleted", "invalid", "pruned")
    return {name: getattr(report, name) for name in names if getattr(report, name)}


@pytest.mark.parametrize("page_size", [500, 100])
async def test_thousands_of_users_with_429_and_500(sessions: async_sessionmaker[AsyncSession], page_size: int) -> None:
    """2,600 users over 6 or 26 pages, one 429 (Retry-After honoured) and one 500: each user exactly once with
    the right fields; a second run finds every user unchanged and writes nothing but its own checkpoint."""
    users = population(2600)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        too_many = backend.fail(429, on_request=3, retry_after=7)
        broken = backend.fail(500, on_request=5)
        sleeps = Sleeps()
        first = await run(backend, sessions, page_size=page_size, sleeps=sleeps)
        assert backend.request_count > broken > too_many  # both failures were served, then retried
        assert sleeps.calls[0] == 7  # Retry-After, not the exponential backoff
        assert len(sleeps.calls) == 2
        assert counts(first) == {"seen": 2600, "created": 2600}
        stored = await rows(sessions)
        assert len(stored) == 2600
        for i in range(2600):
            user = stored[f"user_{i:05d}"]
            assert (user.email, user.first_name, user.last_name, user.public_metadata, user.clerk_version) == (
                f"u{i}@example.com",
                f"F{i}",
                f"L{i}",
                {"n": i},
                BASE_MS + i,
            )
            assert user.deleted_at is None
        async with sessions() as session:
            total = (await session.execute(select(func.count()).select_from(User))).scalar_one()
            duplicates = (
                await session.execute(select(User.clerk_id).group_by(User.clerk_id).having(func.count() > 1))
            ).all()
        assert (total, duplicates) == (2600, [])
        before = await snapshot(sessions)
        with recording(_engine(sessions)) as writes:
            second = await run(backend, sessions, page_size=page_size)
        assert counts(second) == {"seen": 2600, "unchanged": 2600}
        assert writes.writes != []
        assert [sql for sql in writes.writes if "clerk_backfill_checkpoints" not in sql] == []
        assert await snapshot(sessions) == before


async def test_changed_user_is_updated_and_stale_data_skipped(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A profile edited in Clerk is updated; a row fresher than Clerk's page (a token seen meanwhile) is kept."""
    users = population(3)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        await run(backend, sessions)
        backend.add_user({**users[0], "first_name": "Edited", "updated_at": BASE_MS + 10_000})
        fresher = UserProfile("user_00001", BASE_MS + 99_999, Source.TOKEN, {"first_name": "FromToken"})
        await store_of(sessions).sync(fresher)
        backend.add_user({**users[1], "first_name": "Older", "updated_at": BASE_MS + 50_000})
        report = await run(backend, sessions)
        assert counts(report) == {"seen": 3, "updated": 1, "stale": 1, "unchanged": 1}
        assert report.skipped == 1
        stored = await rows(sessions)
        assert (stored["user_00000"].first_name, stored["user_00000"].clerk_version) == ("Edited", BASE_MS + 10_000)
        assert stored["user_00000"].email == "u0@example.com"
        assert stored["user_00001"].first_name == "FromToken"


async def test_dry_run_writes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    """--dry-run reports what would change, column by column, and leaves every row exactly as it was."""
    users = population(5)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        await run(backend, sessions)
        backend.add_user({**users[2], "first_name": "Renamed", "updated_at": BASE_MS + 10_000})
        backend.add_user(make_user_json("user_new", created_at=BASE_MS + 100, updated_at=BASE_MS + 100))
        before = await snapshot(sessions)
        with recording(_engine(sessions)) as writes:
            report = await run(backend, sessions, dry_run=True)
        assert report.dry_run
        assert counts(report) == {"seen": 6, "created": 1, "updated": 1, "unchanged": 4}
        planned = sorted(report.planned, key=lambda change: change.clerk_id)
        assert planned[0] == PlannedChange("user_00002", "updated", ("first_name",))
        assert (planned[1].clerk_id, planned[1].action) == ("user_new", "created")
        assert {"email", "first_name", "last_name"} <= set(planned[1].columns)
        assert writes.writes == []
        assert await snapshot(sessions) == before
        # The real run then does exactly what the dry run announced.
        real = await run(backend, sessions)
        assert (real.created, real.updated, real.unchanged) == (1, 1, 4)


async def test_prune_tombstones_confirmed_deletions_only(sessions: async_sessionmaker[AsyncSession]) -> None:
    """--prune tombstones users Clerk answers 404 for; it never hard-deletes and spares users Clerk still has."""
    users = population(4)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        await run(backend, sessions)
        backend.remove_user("user_00003")
        before = await snapshot(sessions)
        with recording(_engine(sessions)) as writes:
            dry = await run(backend, sessions, prune=True, dry_run=True)
        assert dry.planned == [PlannedChange("user_00003", "pruned", ("deleted_at",))]
        assert writes.writes == []
        assert await snapshot(sessions) == before
        report = await run(backend, sessions, prune=True)
        assert counts(report) == {"seen": 3, "unchanged": 3, "pruned": 1}
        asked = [r.path for r in backend.requests if r.path.startswith("/v1/users/user_")]
        assert asked == ["/v1/users/user_00003"] * 2  # confirmed by a 404 in each run, nobody else looked up
        stored = await rows(sessions)
        assert len(stored) == 4  # a tombstone, never a hard delete
        assert stored["user_00003"].deleted_at is not None
        assert stored["user_00003"].email == "u3@example.com"
        assert all(stored[f"user_0000{i}"].deleted_at is None for i in range(3))
        # Pruning again finds nothing: the tombstone is not a candidate.
        assert (await run(backend, sessions, prune=True)).pruned == 0
        # A tombstone is never resurrected by a later backfill, even if Clerk lists the id again.
        backend.add_user({**users[3], "first_name": "Back", "updated_at": BASE_MS + 10**9})
        again = await run(backend, sessions)
        assert counts(again) == {"seen": 4, "unchanged": 3, "deleted": 1}
        stored = await rows(sessions)
        assert stored["user_00003"].deleted_at is not None
        assert stored["user_00003"].first_name == "F3"


async def test_prune_spares_users_created_during_the_run(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A local user created after the listing began (a sign-up racing the backfill) is never a prune candidate,
    though Clerk's listing did not contain it; an older local-only user Clerk does not know is pruned."""
    with FakeClerkBackend(secret_key=SECRET, users=population(2)) as backend:
        async with sessions() as session:
            for clerk_id in ("user_signed_up_now", "user_long_gone"):
                await store_of(sessions).sync(UserProfile(clerk_id, BASE_MS, Source.TOKEN))
            # Pretend the sign-up happened after the backfill started (its row is newer than the run).
            await session.execute(
                update(User)
                .where(User.clerk_id == "user_signed_up_now")
                .values(created_at=datetime.now(UTC) + timedelta(hours=1))
            )
            await session.commit()
        report = await run(backend, sessions, prune=True)
        assert report.pruned == 1
        stored = await rows(sessions)
        assert stored["user_long_gone"].deleted_at is not None
        assert stored["user_signed_up_now"].deleted_at is None


async def test_prune_spares_a_sign_up_made_while_the_backfill_waits(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A real race: while the backfill waits out a 429 between pages, a user signs up (first request creates the
    row). The listing never shows them and the fake answers 404 for them, yet prune leaves their row alone."""
    with FakeClerkBackend(secret_key=SECRET, users=population(1000)) as backend:
        await store_of(sessions).sync(UserProfile("user_long_gone", BASE_MS, Source.TOKEN))
        backend.fail(429, on_request=4, retry_after=2)

        class SignUpWhileWaiting(Sleeps):
            async def __call__(self, seconds: float) -> None:
                await super().__call__(seconds)
                token_profile = UserProfile("user_mid_run", BASE_MS + 5, Source.TOKEN, {"first_name": "New"})
                assert (await store_of(sessions).sync(token_profile)).action == "created"

        sleeps = SignUpWhileWaiting()
        report = await run(backend, sessions, sleeps=sleeps, prune=True, page_size=100)
        assert sleeps.calls == [2]
        assert (report.created, report.pruned) == (1000, 1)
        stored = await rows(sessions)
        assert stored["user_mid_run"].deleted_at is None
        assert stored["user_long_gone"].deleted_at is not None


async def test_unreadable_users_are_skipped(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A malformed user object is counted as invalid and skipped; the rest of the run goes on."""
    with FakeClerkBackend(secret_key=SECRET, users=population(2)) as backend:
        backend.add_user({"id": "user_unversioned", "object": "user", "updated_at": "yesterday"})
        report = await run(backend, sessions)
        assert counts(report) == {"seen": 3, "created": 2, "invalid": 1}
        assert set(await rows(sessions)) == {"user_00000", "user_00001"}


async def test_unstorable_users_are_skipped(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A well-formed user whose values the row cannot hold (a 5,000-character name) is counted as invalid and
    written nowhere; the users after it are still imported."""
    users = population(3)
    users[1] = make_user_json("user_00001", first_name="x" * 5000, created_at=BASE_MS + 1, updated_at=BASE_MS + 1)
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        report = await run(backend, sessions)
        assert counts(report) == {"seen": 3, "created": 2, "invalid": 1}
        assert set(await rows(sessions)) == {"user_00000", "user_00002"}


async def test_a_value_the_database_refuses_fails_that_user_alone(sessions: async_sessionmaker[AsyncSession]) -> None:
    """An app constraint the column limits cannot know (a CHECK on PostgreSQL, a trigger on SQLite) refuses one
    user of a page: the page is replayed user by user, so that user alone is invalid and listed with its reason,
    and every other user of the page (before and after it) is written, exactly as the per-user path would."""
    users = population(5)
    users[2] = make_user_json("user_00002", first_name="Refused", created_at=BASE_MS + 2, updated_at=BASE_MS + 2)
    engine = _engine(sessions)
    async with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            await connection.execute(
                text("ALTER TABLE users ADD CONSTRAINT no_refused CHECK (first_name IS DISTINCT FROM 'Refused')")
            )
        else:
            await connection.execute(
                text(
                    "CREATE TRIGGER no_refused BEFORE INSERT ON users WHEN NEW.first_name = 'Refused' "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    with FakeClerkBackend(secret_key=SECRET, users=users) as backend:
        report = await run(backend, sessions)
    assert counts(report) == {"seen": 5, "created": 4, "invalid": 1}
    [failed] = report.failed
    assert failed.clerk_id == "user_00002"
    assert "Refused" not in failed.reason  # names the problem, never the value
    assert set(await rows(sessions)) == {"user_00000", "user_00001", "user_00003", "user_00004"}


async def test_a_page_is_one_transaction(sessions: async_sessionmaker[AsyncSession]) -> None:
    """250 new users over 3 pages commit 3 times for the users (plus one per checkpoint), not 250 times."""
    with FakeClerkBackend(secret_key=SECRET, users=population(250)) as backend:
        commits: list[None] = []
        engine = _engine(sessions)
        listener = lambda _connection: commits.append(None)  # noqa: E731
        event.listen(engine.sync_engine, "commit", listener)
        try:
            report = await run(backend, sessions, page_size=100)
        finally:
            event.remove(engine.sync_engine, "commit", listener)
    assert (report.created, report.pages) == (250, 3)
    assert len(commits) == 3 + 3 + 1  # pages, checkpoints, the final clear


async def test_progress_is_reported_per_user(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The callback sees the running counts after every listed user (the CLI's progress bar relies on it)."""
    seen: list[tuple[int, int]] = []
    with FakeClerkBackend(secret_key=SECRET, users=population(250)) as backend:
        await run(backend, sessions, page_size=100, progress=lambda r: seen.append((r.seen, r.created)))
    assert seen == [(n, n) for n in range(1, 251)]


# -- stable paging, checkpoints, pacing ---------------------------------------------------------------------


async def checkpoints(sessions: async_sessionmaker[AsyncSession]) -> list[BackfillCheckpoint]:
    async with sessions() as session:
        return list((await session.execute(select(BackfillCheckpoint))).scalars())


async def test_users_created_and_deleted_mid_run_skip_no_one(sessions: async_sessionmaker[AsyncSession]) -> None:
    """While the backfill runs, before every page Clerk deletes three users already imported and one not yet
    read, and two people sign up: every user that existed for the whole run is imported exactly once.
    (Offset paging fails the same churn: test_deletions_during_paging_skip_no_one_only_with_created_at.)"""
    users = population(400)
    gone: list[str] = []

    def churn(number: int) -> None:
        if number == 1:
            return
        for victim in (3 * number, 3 * number + 1, 3 * number + 2, 399 - number):
            backend.remove_user(f"user_{victim:05d}")
            gone.append(f"user_{victim:05d}")
        for j in range(2):
            backend.add_user(make_user_json(f"user_new_{number}_{j}", created_at=BASE_MS + 5000 + 2 * number + j))

    with FakeClerkBackend(secret_key=SECRET, users=users, on_list=churn) as backend:
        report = await run(backend, sessions, page_size=20)
    stored = await rows(sessions)
    survivors = {user["id"] for user in users} - set(gone)
    assert len(gone) > 40  # the churn really ran between pages
    assert survivors <= set(stored)
    assert report.seen == len(stored) == report.created  # none read twice
    assert await checkpoints(sessions) == []  # a finished run leaves no checkpoint


async def test_interrupted_run_resumes_after_its_last_finished_page(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A run told to stop after its first page, then a resumed one told to stop after two, keep a checkpoint;
    the final ``resume`` requests none of those pages again, imports the rest, and clears the checkpoint.
    With no checkpoint left, ``resume`` starts from the first page."""
    with FakeClerkBackend(secret_key=SECRET, users=population(1000)) as backend:
        first = await run(backend, sessions, page_size=100, should_stop=lambda: True)
        assert (first.interrupted, first.pages, first.seen) == (True, 1, 100)
        asked: list[None] = []

        def after_two_pages() -> bool:
            asked.append(None)
            return len(asked) == 2

        second = await run(backend, sessions, page_size=100, resume=True, should_stop=after_two_pages)
        assert (second.resumed, second.interrupted, second.pages) == (True, True, 2)
        [checkpoint] = await checkpoints(sessions)
        assert checkpoint.users == second.seen
        requested_before = backend.request_count
        third = await run(backend, sessions, page_size=100, resume=True)
        resumed_requests = backend.requests[requested_before:]
        assert (third.resumed, third.interrupted) == (True, False)
        assert first.seen + second.seen + third.seen == 1000
        assert third.created == third.seen  # nothing read before was read again
        assert resumed_requests[0].query["created_at_after"] == [str(checkpoint.last_created_at - 1)]
        assert len(await rows(sessions)) == 1000
        assert await checkpoints(sessions) == []
        fresh = await run(backend, sessions, page_size=100, resume=True)
        assert (fresh.resumed, fresh.seen, fresh.unchanged) == (False, 1000, 1000)


async def test_dry_run_keeps_no_checkpoint(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A dry run writes nothing at all, not even a checkpoint."""
    with FakeClerkBackend(secret_key=SECRET, users=population(30)) as backend:
        await run(backend, sessions, page_size=10, dry_run=True, should_stop=lambda: True)
    assert await checkpoints(sessions) == []


class FakeClock:
    """A monotonic clock that only moves when the pacer sleeps (or a test advances it), so pacing is exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limit_follows_the_key_kind() -> None:
    """Production keys get Clerk's 1000 per 10 s, development (and unknown) keys 100 per 10 s."""
    assert rate_limit_for("sk_live_abc") == 100.0
    assert rate_limit_for("sk_test_abc") == 10.0
    assert rate_limit_for("something_else") == 10.0
    with pytest.raises(ValueError, match="share"):
        RequestPacer.for_key("sk_live_abc", 1.5)


@pytest.mark.parametrize(("key", "per_10s"), [("sk_test_x", 20), ("sk_live_x", 200)])
async def test_pacing_keeps_the_backfill_under_its_share(
    sessions: async_sessionmaker[AsyncSession], key: str, per_10s: int
) -> None:
    """At the default 20% share, no 10 s window of the run holds more requests than 20% of the key's limit,
    and every request waited for its slot (the clock moves only through the pacer's sleeps)."""
    clock = FakeClock()
    sent_at: list[float] = []
    with FakeClerkBackend(
        secret_key=SECRET, users=population(300), on_list=lambda _n: sent_at.append(clock.now)
    ) as backend:
        report = await run(
            backend, sessions, page_size=10, pacer=RequestPacer.for_key(key, clock=clock, sleep=clock.sleep)
        )
    assert report.seen == 300
    # every request after the first waited for its slot (plus, at most, one wait before the walk saw its end)
    assert len(sent_at) - 1 <= len(clock.sleeps) <= len(sent_at)
    assert len(sent_at) > 30
    for i, start in enumerate(sent_at):
        assert sum(1 for t in sent_at[i:] if t < start + 10) <= per_10s
    assert clock.now == pytest.approx(len(clock.sleeps) * 10 / per_10s)
