"""Integration tests of the stores' ``sync`` and ``delete``, async and sync, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clerk_sync.db import SyncResult, User
from clerk_sync.errors import ConfigurationError, UserDeletedError
from clerk_sync.profile import Source, UserDeletion
from tests.db.conftest import StoreFactory
from tests.db.factories import AnyStore, StatementLog, profile

pytestmark = pytest.mark.anyio

Sessions = async_sessionmaker[AsyncSession]


async def _sync(store: AnyStore, **kwargs: Any) -> SyncResult[User]:
    return await store.sync(profile(**kwargs))


async def _stored(sessions: Sessions, clerk_id: str = "user_1") -> User:
    async with sessions() as session:
        return (await session.execute(select(User).where(User.clerk_id == clerk_id))).scalar_one()


async def test_first_sight_creates_the_row(sessionmaker: Sessions, store: AnyStore) -> None:
    """A user never seen before gets a row with the carried fields and the profile's version."""
    result = await _sync(store, email="a@example.com", public_metadata={"plan": "pro"})

    assert result.action == "created"
    assert result.changed == ("email", "public_metadata")
    stored = await _stored(sessionmaker)
    assert (stored.id, stored.email, stored.public_metadata) == (result.user.id, "a@example.com", {"plan": "pro"})
    assert stored.clerk_version == 1_000
    assert stored.created_at.tzinfo is not None
    assert stored.first_name is None
    assert stored.deleted_at is None


async def test_default_token_creates_an_empty_row(sessionmaker: Sessions, store: AnyStore) -> None:
    """Clerk's default token carries no profile claims; the row still exists, with empty metadata."""
    result = await _sync(store)

    assert result.action == "created"
    assert result.user.public_metadata == {}
    assert result.user.email is None


async def test_steady_state_is_one_select_and_no_write(
    sessionmaker: Sessions, store: AnyStore, statements: StatementLog
) -> None:
    """An unchanged user costs exactly one SELECT, no write and no commit."""
    await _sync(store, email="a@example.com", first_name="Ada")
    statements.clear()

    result = await _sync(store, version=2_000, email="a@example.com", first_name="Ada")

    assert result.action == "unchanged"
    assert len(statements.sql) == 1
    assert statements.sql[0].upper().startswith("SELECT")
    assert statements.commits == 0


async def test_a_change_is_one_upsert(sessionmaker: Sessions, store: AnyStore, statements: StatementLog) -> None:
    """A changed field is written by the read plus one upsert and a commit; only that field is reported."""
    created = await _sync(store, email="a@example.com", first_name="Ada")
    statements.clear()

    result = await _sync(store, version=2_000, email="b@example.com", first_name="Ada")

    assert result.action == "updated"
    assert result.changed == ("email",)
    assert result.user.id == created.user.id
    assert result.user.email == "b@example.com"
    assert result.user.updated_at > created.user.updated_at
    assert result.user.created_at == created.user.created_at
    assert len(statements.writes) == 1
    assert "ON CONFLICT" in statements.writes[0].upper()
    assert statements.commits == 1
    assert (await _stored(sessionmaker)).clerk_version == 2_000


async def test_absent_fields_keep_their_data(sessionmaker: Sessions, store: AnyStore) -> None:
    """A profile that does not carry a column leaves it alone."""
    await _sync(store, email="a@example.com", last_name="Lovelace", public_metadata={"x": 1})

    result = await _sync(store, version=2_000, first_name="Ada")

    assert result.action == "updated"
    stored = await _stored(sessionmaker)
    assert (stored.email, stored.first_name, stored.last_name) == ("a@example.com", "Ada", "Lovelace")
    assert stored.public_metadata == {"x": 1}


async def test_explicit_none_clears(sessionmaker: Sessions, store: AnyStore) -> None:
    """``None`` clears a column; for the NOT NULL metadata column, cleared means an empty document."""
    await _sync(store, last_name="Lovelace", public_metadata={"x": 1}, private_metadata={"k": 1})

    result = await _sync(store, version=2_000, last_name=None, public_metadata=None, private_metadata=None)

    assert result.action == "updated"
    assert set(result.changed) == {"last_name", "public_metadata", "private_metadata"}
    stored = await _stored(sessionmaker)
    assert (stored.last_name, stored.public_metadata, stored.private_metadata) == (None, {}, None)


async def test_older_version_never_overwrites(sessionmaker: Sessions, store: AnyStore) -> None:
    """A stale profile (replayed event, late token) is reported and ignored."""
    await _sync(store, version=5_000, email="new@example.com")

    result = await _sync(store, version=4_000, email="old@example.com")

    assert result.action == "stale"
    stored = await _stored(sessionmaker)
    assert (stored.email, stored.clerk_version) == ("new@example.com", 5_000)


async def test_tombstone_blocks_sync(sessionmaker: Sessions, store: AnyStore) -> None:
    """A deleted user is refused with ``UserDeletedError`` and never resurrected, even by a newer version."""
    await _sync(store, email="a@example.com")
    deleted = await store.delete(UserDeletion("user_1", 2_000))
    assert deleted.action == "deleted"

    with pytest.raises(UserDeletedError):
        await _sync(store, version=9_000, email="b@example.com")
    result = await store.sync(profile(version=9_000, email="b@example.com"), raise_if_deleted=False)

    assert result.action == "deleted"
    stored = await _stored(sessionmaker)
    assert stored.deleted_at is not None
    assert (stored.email, stored.clerk_version) == ("a@example.com", 2_000)


async def test_delete_before_create_leaves_a_tombstone(sessionmaker: Sessions, store: AnyStore) -> None:
    """A ``user.deleted`` that overtakes ``user.created`` still wins: the late create cannot create the user."""
    deleted = await store.delete(UserDeletion("user_1", 5_000))
    assert deleted.action == "deleted"
    assert deleted.user.is_deleted

    late = await store.sync(
        profile(version=1_000, source=Source.WEBHOOK, email="a@example.com"), raise_if_deleted=False
    )

    assert late.action == "deleted"
    assert late.user.id == deleted.user.id
    stored = await _stored(sessionmaker)
    assert stored.email is None
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1


async def test_delete_is_idempotent_and_keeps_the_highest_version(sessionmaker: Sessions, store: AnyStore) -> None:
    """Deleting twice changes nothing the second time; the tombstone keeps the highest version it saw."""
    await _sync(store, version=3_000, email="a@example.com")
    first = await store.delete(UserDeletion("user_1", 2_000))
    first_deleted_at = first.user.deleted_at
    again = await store.delete(UserDeletion("user_1", 9_000))

    assert (first.action, again.action) == ("deleted", "unchanged")
    stored = await _stored(sessionmaker)
    assert stored.deleted_at == first_deleted_at
    assert stored.clerk_version == 3_000
    assert stored.email == "a@example.com"


async def test_unknown_column_is_a_configuration_error(sessionmaker: Sessions, store: AnyStore) -> None:
    """A claim mapping naming a column the model lacks (or one the store owns) fails loudly."""
    with pytest.raises(ConfigurationError, match="nickname"):
        await _sync(store, nickname="ada")
    with pytest.raises(ConfigurationError, match="deleted_at"):
        await _sync(store, deleted_at=None)


async def test_audit_log_names_fields_never_values(
    sessionmaker: Sessions, store: AnyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Each write leaves one ``clerk_sync.audit`` record with source, clerk_id and changed field names."""
    caplog.set_level(logging.INFO, logger="clerk_sync.audit")
    await _sync(store, email="secret@example.com")
    await _sync(store, email="secret@example.com")
    await store.delete(UserDeletion("user_1", 2_000, Source.WEBHOOK))

    records = [r for r in caplog.records if r.name == "clerk_sync.audit"]
    assert [(r.action, r.source, r.clerk_id, r.changed) for r in records] == [  # type: ignore[attr-defined]
        ("created", "token", "user_1", ["email"]),
        ("deleted", "webhook", "user_1", ["deleted_at"]),
    ]
    assert "secret" not in caplog.text


async def test_creation_from_sub_alone_is_audited(
    sessionmaker: Sessions, store: AnyStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Clerk's default token carries no profile fields; creating its row is still one audited write."""
    caplog.set_level(logging.INFO, logger="clerk_sync.audit")
    result = await _sync(store)
    assert result.action == "created"
    records = [r for r in caplog.records if r.name == "clerk_sync.audit"]
    assert [(r.action, r.changed) for r in records] == [("created", ["clerk_id"])]  # type: ignore[attr-defined]


async def test_hooks_run_after_commit_and_failures_do_not_fail_the_sync(
    sessionmaker: Sessions, make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Hooks see each write once; a failing hook is logged, the committed write stands."""
    seen: list[tuple[str, str]] = []

    def record(result: SyncResult[User]) -> None:
        seen.append((result.action, result.user.clerk_id))

    def explode(result: SyncResult[User]) -> None:
        raise RuntimeError("hook bug")

    store = make_store(on_user_created=record, on_user_updated=explode, on_user_deleted=record)
    await _sync(store, email="a@example.com")
    await _sync(store, email="a@example.com")
    updated = await _sync(store, version=2_000, email="b@example.com")
    await store.delete(UserDeletion("user_1", 3_000))

    assert seen == [("created", "user_1"), ("deleted", "user_1")]
    assert updated.action == "updated"
    assert "on_user_updated hook failed" in caplog.text
    assert (await _stored(sessionmaker)).deleted_at is not None


async def test_row_created_from_sub_alone_claims_no_version(sessionmaker: Sessions, store: AnyStore) -> None:
    """A user first seen without profile data gets no version, so any later real data applies, however old."""
    created = await _sync(store, version=2_000_000)
    assert created.action == "created"
    assert (await _stored(sessionmaker)).clerk_version is None
    fetched = await _sync(store, version=1_000, email="late@example.com")
    assert fetched.action == "updated"
    stored = await _stored(sessionmaker)
    assert (stored.email, stored.clerk_version) == ("late@example.com", 1_000)
