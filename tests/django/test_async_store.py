"""``AsyncDjangoUserStore`` under a real event loop, on SQLite and PostgreSQL: async reads through Django's
async ORM, writes through the sync store on the thread-sensitive executor, with the same rules and signals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from clerk_sync.django.models import ClerkUser, ProcessedWebhook
from clerk_sync.django.signals import user_created
from clerk_sync.django.store import AsyncDjangoUserStore
from clerk_sync.errors import DatabaseUnavailableError, UserDeletedError
from clerk_sync.profile import Source
from tests.django.support import ALIASES, deletion, profile

pytestmark = pytest.mark.anyio


@pytest.fixture(params=ALIASES)
async def alias(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The database alias; the executor thread's connections are closed after, so the database can be dropped."""
    name: str = request.param
    yield name
    await sync_to_async(connections.close_all, thread_sensitive=True)()


async def test_the_async_store_follows_the_sync_rules(alias: str) -> None:
    """Create, steady state, a newer update, a stale one, then a tombstone that refuses later profiles."""
    store: AsyncDjangoUserStore[ClerkUser] = AsyncDjangoUserStore(using=alias)
    assert await store.read(profile(email="a@example.com")) is None
    assert await store.plan(profile(email="a@example.com")) == "created"
    created = await store.sync(profile(email="a@example.com", first_name="Ada"))
    assert created.action == "created"
    steady = await store.sync(profile(email="a@example.com"))
    assert steady.action == "unchanged"
    assert steady.user.pk == created.user.pk
    assert (await store.sync(profile(version=3_000, email="b@example.com"))).action == "updated"
    assert (await store.sync(profile(version=2_000, email="old@example.com"))).action == "stale"
    row = await ClerkUser.objects.using(alias).aget(clerk_id="user_1")
    assert (row.email, row.first_name, row.clerk_version) == ("b@example.com", "Ada", 3_000)

    assert (await store.delete(deletion(version=4_000))).action == "deleted"
    with pytest.raises(UserDeletedError):
        await store.sync(profile(version=9_000, email="c@example.com"))
    with pytest.raises(UserDeletedError):
        await store.read(profile(email="b@example.com"))
    late = await store.sync(profile(version=9_000, email="c@example.com"), raise_if_deleted=False)
    assert late.action == "deleted"


async def test_concurrent_async_deliveries_apply_once_and_signal_once(alias: str) -> None:
    """Eight tasks delivering one Svix message: one applies, seven are duplicates, one signal, one ledger row."""
    store: AsyncDjangoUserStore[ClerkUser] = AsyncDjangoUserStore(using=alias)
    sent: list[str] = []

    def receive(sender: type[Any], user: ClerkUser, **_: Any) -> None:
        sent.append(user.clerk_id)

    user_created.connect(receive, weak=False)
    try:
        event = profile(clerk_id="user_async", source=Source.WEBHOOK, email="h@example.com")
        outcomes = await asyncio.gather(*(store.apply_webhook("msg_a", "user.created", event) for _ in range(8)))
    finally:
        user_created.disconnect(receive)
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 7
    assert sent == ["user_async"]
    assert await ProcessedWebhook.objects.using(alias).acount() == 1
    assert await ClerkUser.objects.using(alias).filter(clerk_id="user_async").acount() == 1
    assert await store.last_webhook_at() is not None


async def test_an_unreachable_database_is_unavailable(django_db_blocker: Any) -> None:
    """Async reads and writes against the ``offline`` alias raise ``DatabaseUnavailableError``."""
    store: AsyncDjangoUserStore[ClerkUser] = AsyncDjangoUserStore(using="offline")
    with django_db_blocker.unblock():
        with pytest.raises(DatabaseUnavailableError):
            await store.read(profile())
        with pytest.raises(DatabaseUnavailableError):
            await store.sync(profile(email="a@example.com"))
        with pytest.raises(DatabaseUnavailableError):
            await store.last_webhook_at()
    await sync_to_async(connections.close_all, thread_sensitive=True)()
