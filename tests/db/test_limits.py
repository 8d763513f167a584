"""The column limits: derived from the model per dialect, checked before a write, refused in the source's terms.

The pure checks run against dialect objects (no database needed to know what ``String(20)`` holds); the sync
engine's use of them runs on SQLite and PostgreSQL and proves that a refusal writes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import BigInteger, Boolean, Integer, SmallInteger, String, Text, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from clerk_sync.db import (
    DECLARED_LENGTHS,
    ClerkUserMixin,
    ProcessedWebhook,
    User,
)
from clerk_sync.db.limits import ColumnLimits
from clerk_sync.errors import BackendAPIError, TokenClaimInvalidError, WebhookFieldInvalidError
from clerk_sync.limits import MAX_JSON_DEPTH
from clerk_sync.profile import Source, UserDeletion, UserProfile
from tests.db.factories import AnyStore, StatementLog, profile
from tests.support import AppBase

pytestmark = pytest.mark.anyio

PG: Dialect = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]
LITE: Dialect = sqlite.aiosqlite.dialect()


class Player(ClerkUserMixin, AppBase):
    """An app model with its own lengths and types, one of them different per dialect."""

    __tablename__ = "players"

    first_name: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(40).with_variant(String(10), "postgresql"))
    bio: Mapped[str | None] = mapped_column(Text())
    level: Mapped[int | None] = mapped_column(Integer())
    rank: Mapped[int | None] = mapped_column(SmallInteger())
    score: Mapped[int | None] = mapped_column(BigInteger())
    banned: Mapped[bool] = mapped_column(Boolean(), default=False)


def refusal_for(model: type[Any], dialect: Dialect, key: str, value: Any, source: Source = Source.TOKEN) -> Any:
    """What checking ``{key: value}`` raises (None when it passes)."""
    limits = ColumnLimits(model, dialect)
    try:
        limits.check_profile(UserProfile("user_1", 1_000, source), {key: value})
    except (TokenClaimInvalidError, WebhookFieldInvalidError, BackendAPIError) as error:
        return error
    return None


@pytest.mark.parametrize("dialect", [PG, LITE], ids=["pg", "sqlite"])
def test_lengths_come_from_the_column_type(dialect: Dialect) -> None:
    """A ``String(n)`` column holds ``n`` characters (counted as characters, not bytes), whatever the mixin
    declares; a ``Text`` column of the app's own is unbounded."""
    assert refusal_for(Player, dialect, "first_name", "é" * 20) is None
    error = refusal_for(Player, dialect, "first_name", "é" * 21)
    assert isinstance(error, TokenClaimInvalidError)
    assert "20 characters" in error.message
    assert refusal_for(Player, dialect, "bio", "x" * 100_000) is None


def test_a_variant_type_is_checked_as_its_dialect_stores_it() -> None:
    """``String(40).with_variant(String(10), "postgresql")``: 10 on PostgreSQL, 40 on SQLite."""
    assert refusal_for(Player, PG, "email", "a" * 11) is not None
    assert refusal_for(Player, LITE, "email", "a" * 11) is None
    assert refusal_for(Player, LITE, "email", "a" * 41) is not None


def test_text_columns_of_the_mixin_use_the_declared_lengths() -> None:
    """The default model's ``Text`` columns are bounded by ``DECLARED_LENGTHS``; ``clerk_id`` by its type."""
    for key, limit in DECLARED_LENGTHS.items():
        assert refusal_for(User, PG, key, "x" * limit) is None
        assert refusal_for(User, PG, key, "x" * (limit + 1)) is not None
    limits = ColumnLimits(User, LITE)
    with pytest.raises(TokenClaimInvalidError, match="255 characters"):
        limits.check_profile(UserProfile("u" * 256, 1_000, Source.TOKEN), {})


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("first_name", 42, "must be a string"),
        ("first_name", "a\x00b", "NUL"),
        ("first_name", "a\ud800b", "lone surrogate"),
        ("public_metadata", ["pro"], "must be a JSON object"),
        ("public_metadata", {"plan": float("nan")}, "NaN"),
        ("public_metadata", {"plan": {1: "x"}}, "key that is not a string"),
        ("public_metadata", {"pl\x00an": "x"}, "NUL"),
        ("public_metadata", {"plan": {"nested": [b"bytes"]}}, "not JSON"),
        ("public_metadata", None, "must not be null"),
    ],
)
def test_values_the_database_cannot_store_are_named_not_shown(key: str, value: Any, reason: str) -> None:
    """Wrong types, NUL characters, lone surrogates and non-JSON documents are refused with a reason that
    names the problem, never the value."""
    error = refusal_for(User, PG, key, value)
    assert error is not None
    assert reason in error.message
    assert key in error.message
    assert repr(value) not in error.message


def test_json_nesting_is_bounded_without_recursion() -> None:
    """A document nested deeper than ``MAX_JSON_DEPTH`` is refused (the walk itself is iterative, so even a
    depth far beyond Python's recursion limit is answered, not crashed on)."""
    nested: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):  # containers, the document itself included
        nested = {"n": nested}
    assert refusal_for(User, PG, "public_metadata", nested) is None
    assert refusal_for(User, PG, "public_metadata", {"n": nested}) is not None
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    assert "nests deeper" in refusal_for(User, PG, "public_metadata", {"d": deep}).message


@pytest.mark.parametrize(
    ("key", "dialect", "fits", "overflows"),
    [
        ("level", PG, 2**31 - 1, 2**31),
        ("level", LITE, 2**63 - 1, 2**63),  # every SQLite INTEGER is 8 bytes
        ("rank", PG, -(2**15), -(2**15) - 1),
        ("score", PG, 2**63 - 1, 2**63),
    ],
)
def test_integer_ranges_follow_the_column_and_dialect(key: str, dialect: Dialect, fits: int, overflows: int) -> None:
    """An integer must fit its column as the dialect stores it; a bool is no integer, a string no bool."""
    assert refusal_for(Player, dialect, key, fits) is None
    assert "out of range" in refusal_for(Player, dialect, key, overflows).message
    assert "must be an integer" in refusal_for(Player, dialect, key, True).message
    assert "true or false" in refusal_for(Player, dialect, "banned", "yes").message


def test_the_refusal_is_the_sources_own_error() -> None:
    """A token's claim is a 401-family ``TokenClaimInvalidError`` (with the claim), a webhook's field a
    400-family ``WebhookFieldInvalidError`` (with the field), a Backend API answer a ``BackendAPIError``;
    the profile's labels translate the column into the source's name for it."""
    limits = ColumnLimits(User, PG)
    labels = {"first_name": "data.first_name"}
    webhook = UserProfile("user_1", 1_000, Source.WEBHOOK, labels=labels)
    with pytest.raises(WebhookFieldInvalidError) as raised:
        limits.check_profile(webhook, {"first_name": 1})
    assert raised.value.field == "data.first_name"
    assert raised.value.code == "webhook-payload-invalid"
    token = UserProfile("user_1", 1_000, Source.TOKEN, labels={"first_name": "given_name"})
    with pytest.raises(TokenClaimInvalidError) as claim:
        limits.check_profile(token, {"first_name": 1})
    assert (claim.value.claim, claim.value.code) == ("given_name", "token-claim-invalid")
    with pytest.raises(BackendAPIError):
        limits.check_profile(UserProfile("user_1", 1_000, Source.BACKFILL), {"first_name": 1})
    with pytest.raises(TokenClaimInvalidError, match="clerk_version"):
        limits.check_profile(UserProfile("user_1", 2**63, Source.TOKEN), {})


# --- the stores, on both databases ----------------------------------------------------------------------

Sessions = async_sessionmaker[AsyncSession]


async def test_sync_refuses_before_writing_and_the_row_keeps_its_values(
    sessionmaker: Sessions, store: AnyStore, statements: StatementLog
) -> None:
    """A token profile the row cannot hold is refused after the one read, before any write: no INSERT, no
    commit, and the stored row is as it was."""
    await store.sync(profile(email="ada@example.com", first_name="Ada"))
    statements.clear()
    with pytest.raises(TokenClaimInvalidError, match="first_name"):
        await store.sync(profile(version=2_000, email="ada@example.com", first_name="Ada\x00"))
    assert statements.writes == []
    assert statements.commits == 0
    async with sessionmaker() as session:
        stored = (await session.execute(select(User))).scalar_one()
    assert (stored.first_name, stored.clerk_version) == ("Ada", 1_000)


async def test_a_webhook_is_refused_before_its_ledger_row(sessionmaker: Sessions, store: AnyStore) -> None:
    """``apply_webhook`` checks the message id, the event type and the change before claiming the message, so
    a refused message is not "processed": the same id with a readable change applies afterwards."""
    bad = UserProfile("user_1", 1_000, Source.WEBHOOK, {"first_name": "x" * 2_000})
    good = UserProfile("user_1", 1_000, Source.WEBHOOK, {"first_name": "Ada"})
    with pytest.raises(WebhookFieldInvalidError, match="first_name"):
        await store.apply_webhook("msg_1", "user.created", bad)
    with pytest.raises(WebhookFieldInvalidError, match="svix-id"):
        await store.apply_webhook("m" * 256, "user.created", good)
    tombstone = UserDeletion("u" * 256, 1_000, labels={"clerk_id": "data.id"})
    with pytest.raises(WebhookFieldInvalidError, match=r"data\.id"):
        await store.apply_webhook("msg_2", "user.deleted", tombstone)
    async with sessionmaker() as session:
        ledger = (await session.execute(select(func.count()).select_from(ProcessedWebhook))).scalar_one()
        users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    assert (ledger, users) == (0, 0)
    outcome = await store.apply_webhook("msg_1", "user.created", good)
    assert outcome == "created"


async def test_delete_refuses_an_id_the_column_cannot_hold(sessionmaker: Sessions, store: AnyStore) -> None:
    """A tombstone is checked as a profile is: an id longer than ``clerk_id`` is refused, nothing written."""
    with pytest.raises(BackendAPIError, match="clerk_id"):
        await store.delete(UserDeletion("u" * 256, 1_000, source=Source.BACKFILL))
    async with sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(User))).scalar_one() == 0
