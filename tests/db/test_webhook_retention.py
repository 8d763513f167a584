"""Ledger retention: ``prune_webhooks`` forgets only ids older than the cutoff, a bounded batch per
transaction, on both stores and both databases; deliveries keep applying while it runs, and an id still inside
the window stays a duplicate. Then the two ways an operator runs it: ``clerk-sync webhooks prune`` and the
service's periodic task."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from sqlalchemy import Engine, event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from clerk_sync.db import AsyncSQLAlchemyStore, ProcessedWebhook, SQLAlchemyStore, User
from clerk_sync.db.webhook_log import DEFAULT_WEBHOOK_RETENTION, SVIX_RETRY_WINDOW
from clerk_sync.profile import Source
from clerk_sync.store import WebhookOutcome
from tests.databases import sqlite_url
from tests.db.factories import profile
from tests.processes import run_cli, service, wait_for

pytestmark = pytest.mark.anyio

NOW = datetime.now(UTC)
OLD = NOW - DEFAULT_WEBHOOK_RETENTION - timedelta(days=1)
CUTOFF = NOW - DEFAULT_WEBHOOK_RETENTION


class Stores:
    """One store kind behind one awaitable face: the async store itself, or the sync one on worker threads."""

    def __init__(self, kind: str, engine: AsyncEngine, url: str) -> None:
        self.kind = kind
        self._async: AsyncSQLAlchemyStore[User] | None = None
        self._sync: SQLAlchemyStore[User] | None = None
        if kind == "async":
            self._async = AsyncSQLAlchemyStore(engine)
            self.sync_engine: Engine = engine.sync_engine
        else:
            self._sync = SQLAlchemyStore.from_url(url)
            bind = self._sync.sessionmaker.kw["bind"]
            assert isinstance(bind, Engine)
            self.sync_engine = bind

    async def prune(self, older_than: datetime, batch: int) -> int:
        if self._async is not None:
            return await self._async.prune_webhooks(older_than, batch)
        assert self._sync is not None
        return await anyio.to_thread.run_sync(self._sync.prune_webhooks, older_than, batch)

    async def apply(self, svix_id: str, clerk_id: str) -> WebhookOutcome:
        change = profile(clerk_id, version=1_000, source=Source.WEBHOOK, email=f"{clerk_id}@example.com")
        if self._async is not None:
            return await self._async.apply_webhook(svix_id, "user.created", change)
        assert self._sync is not None
        return await anyio.to_thread.run_sync(self._sync.apply_webhook, svix_id, "user.created", change)

    async def close(self) -> None:
        if self._async is not None:
            await self._async.close()
        if self._sync is not None:
            self._sync.close()


@pytest.fixture(params=["async", "sync"])
async def stores(request: pytest.FixtureRequest, engine: AsyncEngine, db_url: str) -> AsyncIterator[Stores]:
    """Each test runs on both stores (and, through ``db_url``, on SQLite and PostgreSQL)."""
    built = Stores(request.param, engine, db_url)
    yield built
    await built.close()


async def seed(engine: AsyncEngine, prefix: str, count: int, at: datetime) -> None:
    rows = [{"svix_id": f"{prefix}_{n}", "event_type": "user.updated", "processed_at": at} for n in range(count)]
    async with engine.begin() as connection:
        await connection.execute(insert(ProcessedWebhook), rows)


async def ledger_ids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.execute(select(ProcessedWebhook.svix_id))).scalars())


def count_deletes(sync_engine: Engine, first: threading.Event | None = None) -> list[int]:
    """Counts DELETE statements on the ledger through a real engine event; sets ``first`` on the first one."""
    seen: list[int] = []

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM CLERK_WEBHOOK_EVENTS"):
            seen.append(1)
            if first is not None:
                first.set()

    return seen


async def test_only_old_rows_go_one_batch_per_statement(engine: AsyncEngine, stores: Stores) -> None:
    """2500 old and 5 recent ids, batch 1000: exactly the old ones go, in three DELETEs (1000, 1000, 500)."""
    await seed(engine, "old", 2500, OLD)
    await seed(engine, "recent", 5, NOW - timedelta(hours=1))
    deletes = count_deletes(stores.sync_engine)
    assert await stores.prune(CUTOFF, 1000) == 2500
    assert len(deletes) == 3
    assert await ledger_ids(engine) == {f"recent_{n}" for n in range(5)}
    assert await stores.prune(CUTOFF, 1000) == 0  # nothing left to forget: one empty batch, then done


async def test_a_delivery_during_a_prune_still_applies(engine: AsyncEngine, stores: Stores) -> None:
    """Deliveries sent while a long prune (many small batches) runs are all applied, and the prune still
    removes every old row: batches are short transactions, so nobody waits on the other for long."""
    await seed(engine, "old", 6000, OLD)
    first_delete = threading.Event()
    deletes = count_deletes(stores.sync_engine, first_delete)
    outcomes: list[WebhookOutcome] = []
    pruned: list[int] = []
    async with anyio.create_task_group() as group:

        async def prune() -> None:
            pruned.append(await stores.prune(CUTOFF, 50))

        group.start_soon(prune)
        await anyio.to_thread.run_sync(first_delete.wait)
        batches_before = len(deletes)
        for n in range(10):
            outcomes.append(await stores.apply(f"msg_during_{n}", f"user_during_{n}"))
        batches_after = len(deletes)
    assert pruned == [6000]
    assert outcomes == ["created"] * 10
    assert batches_before < 120  # the deliveries started while most of the prune was still to run
    assert batches_after >= batches_before
    assert await ledger_ids(engine) == {f"msg_during_{n}" for n in range(10)}


async def test_a_recent_id_stays_a_duplicate_and_a_pruned_one_is_forgotten(engine: AsyncEngine, stores: Stores) -> None:
    """After a prune, a redelivery of an id applied inside the window is still a duplicate; an id older than
    the cutoff is gone (which is why the cutoff must lie beyond Svix's retry window)."""
    assert await stores.apply("msg_recent", "user_recent") == "created"
    await seed(engine, "old", 3, OLD)
    assert await stores.prune(CUTOFF, 1000) == 3
    assert await stores.apply("msg_recent", "user_recent") == "duplicate"
    assert await ledger_ids(engine) == {"msg_recent"}


async def test_a_naive_cutoff_is_refused(stores: Stores) -> None:
    """The ledger stores UTC; a naive cutoff would be off by the machine's offset, so it is refused."""
    with pytest.raises(ValueError, match="aware"):
        await stores.prune(datetime(2020, 1, 1), 1000)


def test_the_default_retention_covers_svix_retries_plus_a_week() -> None:
    """Svix retries for 27 h 35 min 5 s after the first attempt; the default keeps ids a week longer."""
    assert timedelta(hours=27, minutes=35, seconds=5) == SVIX_RETRY_WINDOW
    assert SVIX_RETRY_WINDOW + timedelta(days=7) == DEFAULT_WEBHOOK_RETENTION


async def _sqlite_with_ledger(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    upgraded = run_cli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
    assert upgraded.returncode == 0, upgraded.stderr
    return url


async def test_cli_prune_forgets_old_ids_and_refuses_a_window_svix_still_retries(tmp_path: Path) -> None:
    """``clerk-sync webhooks prune`` deletes ids older than the retention and says how many; a cutoff inside
    Svix's retry window stops with exit code 2 and deletes nothing."""
    from clerk_sync.db import create_engine

    url = await _sqlite_with_ledger(tmp_path)
    engine = create_engine(url)
    try:
        await seed(engine, "old", 1200, NOW - timedelta(days=20))
        await seed(engine, "recent", 2, NOW - timedelta(days=2))
        refused = run_cli("webhooks", "prune", "--older-than-days", "1", cwd=tmp_path, env={"DATABASE_URL": url})
        assert refused.returncode == 2
        assert "retry window" in refused.stderr
        assert len(await ledger_ids(engine)) == 1202
        done = run_cli("webhooks", "prune", "--older-than-days", "10", cwd=tmp_path, env={"DATABASE_URL": url})
        assert done.returncode == 0, done.stderr
        assert "pruned 1200 webhook ids" in done.stdout
        assert await ledger_ids(engine) == {"recent_0", "recent_1"}
        default = run_cli("webhooks", "prune", cwd=tmp_path, env={"DATABASE_URL": url})  # 8.15 days: both stay
        assert default.returncode == 0, default.stderr
        assert "pruned 0 webhook ids" in default.stdout
    finally:
        await engine.dispose()


async def test_the_service_prunes_periodically_when_asked(tmp_path: Path) -> None:
    """With ``CLERK_SYNC_WEBHOOK_RETENTION_INTERVAL_S`` set, the running service forgets old ids by itself and
    keeps answering; without it nothing is pruned."""
    from clerk_sync.db import create_engine

    url = await _sqlite_with_ledger(tmp_path)
    engine = create_engine(url)
    try:
        await seed(engine, "old", 30, OLD)
        await seed(engine, "recent", 1, NOW)
        with service(tmp_path, "--dev", env={"DATABASE_URL": url}):
            pass  # started, served /healthz and stopped: the task is off by default
        assert len(await ledger_ids(engine)) == 31
        env = {"DATABASE_URL": url, "CLERK_SYNC_WEBHOOK_RETENTION_INTERVAL_S": "0.2"}
        with service(tmp_path, "--dev", env=env):

            def pruned() -> bool:
                return anyio.from_thread.run(ledger_ids, engine) == {"recent_0"}

            await anyio.to_thread.run_sync(
                lambda: wait_for(pruned, timeout=20, failure=lambda: "the service did not prune the ledger")
            )
    finally:
        await engine.dispose()
