"""The packaged migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from clerk_sync.db import (
    VERSION_TABLE,
    AsyncSQLAlchemyStore,
    create_engine,
    current_revisions,
    head_revisions,
    schema_diff,
    upgrade,
)
from tests.db.factories import profile

pytestmark = pytest.mark.anyio


async def test_upgrade_creates_the_model_schema(db_url: str) -> None:
    """After ``upgrade``, autogenerate finds nothing to do and the database reports itself current."""
    assert await current_revisions(db_url) == frozenset()
    assert await current_revisions(db_url) == frozenset()

    await upgrade(db_url)

    assert await schema_diff(db_url) == []
    assert await current_revisions(db_url) == head_revisions() == frozenset({"0002"})


async def test_upgrade_is_idempotent_and_runs_inside_an_event_loop(db_url: str) -> None:
    """Upgrading twice is a no-op; the engine form shares the caller's loop and engine."""
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        await upgrade(engine)
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        store = AsyncSQLAlchemyStore(engine)
        result = await store.sync(profile(email="a@example.com"))
        await store.close()
    finally:
        await engine.dispose()

    assert tables == {"users", "clerk_webhook_events", "clerk_backfill_checkpoints", VERSION_TABLE}
    assert result.action == "created"


async def test_schema_diff_reports_drift(db_url: str) -> None:
    """A database missing the schema is reported, so ``schema_diff`` is a usable check."""
    assert await schema_diff(db_url) != []
