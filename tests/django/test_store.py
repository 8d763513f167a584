"""``DjangoUserStore`` on real SQLite files and real PostgreSQL: the sync rules, the one-query steady state,
one row per user under racing threads, exactly-once webhooks, signals after commit, and the typed errors."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from clerk_sync.django.models import ClerkUser, ProcessedWebhook
from clerk_sync.django.signals import user_created, user_deleted, user_updated
from clerk_sync.django.store import DjangoUserStore
from clerk_sync.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    TokenClaimInvalidError,
    UserDeletedError,
    WebhookFieldInvalidError,
)
from clerk_sync.profile import Source
from tests.django.support import ALIASES, deletion, profile, race

Sent = list[tuple[str, str, str]]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> str:
    """The database alias of this case (its test database is built by pytest-django, migrations and all)."""
    name: str = request.param
    return name


@pytest.fixture
def store(alias: str) -> DjangoUserStore[ClerkUser]:
    """The store over the default concrete model (``CLERK_SYNC_USER_MODEL`` unset: ``clerk_sync.ClerkUser``)."""
    return DjangoUserStore(using=alias)


@pytest.fixture
def sent() -> Iterator[Sent]:
    """Every signal the store sends, as (signal, clerk_id, action), from any thread."""
    records: Sent = []
    lock = threading.Lock()

    def receiver(name: str) -> Any:
        def receive(sender: type[Any], user: ClerkUser, result: Any, **_: Any) -> None:
            assert sender is type(user)
            with lock:
                records.append((name, user.clerk_id, result.action))

        return receive

    receivers = {
        signal: receiver(name)
        for name, signal in [("created", user_created), ("updated", user_updated), ("deleted", user_deleted)]
    }
    for signal, receive in receivers.items():
        signal.connect(receive, weak=False)
    yield records
    for signal, receive in receivers.items():
        signal.disconnect(receive)


def test_first_sight_creates_and_the_steady_state_is_one_read_and_no_write(
    store: DjangoUserStore[ClerkUser], alias: str
) -> None:
    """A new user is created with its data; the same profile again costs exactly one SELECT."""
    first = store.sync(profile(email="a@example.com", first_name="Ada", public_metadata={"plan": "pro"}))
    assert first.action == "created"
    assert set(first.changed) == {"email", "first_name", "public_metadata"}
    assert (first.user.email, first.user.first_name, first.user.public_metadata) == (
        "a@example.com",
        "Ada",
        {"plan": "pro"},
    )
    assert first.user.clerk_version == 1_000
    assert first.user.pk is not None

    again = profile(email="a@example.com", first_name="Ada", public_metadata={"plan": "pro"})
    with CaptureQueriesContext(connections[alias]) as queries:
        result = store.sync(again)
        read = store.read(again)
    assert result.action == "unchanged"
    assert result.changed == ()
    assert read is not None
    assert read.action == "unchanged"
    assert read.user.pk == first.user.pk
    assert len(queries) == 2, [q["sql"] for q in queries]
    assert all(q["sql"].lstrip().upper().startswith("SELECT") for q in queries)
    assert ClerkUser.objects.using(alias).count() == 1


def test_read_is_none_when_sync_has_work_to_do(store: DjangoUserStore[ClerkUser]) -> None:
    """``read`` answers only the steady state: None for an unknown user and for changed data."""
    assert store.read(profile(email="a@example.com")) is None
    store.sync(profile(email="a@example.com"))
    assert store.read(profile(version=2_000, email="b@example.com")) is None
    assert store.plan(profile(version=2_000, email="b@example.com")) == "updated"
    assert store.plan(profile(clerk_id="user_new")) == "created"


def test_versions_order_writes(store: DjangoUserStore[ClerkUser], alias: str) -> None:
    """A newer profile updates what changed; an older one is stale and writes nothing; equal versions write."""
    store.sync(profile(version=1_000, email="a@example.com", first_name="Ada"))
    newer = store.sync(profile(version=3_000, email="b@example.com", first_name="Ada"))
    assert newer.action == "updated"
    assert newer.changed == ("email",)
    stale = store.sync(profile(version=2_000, email="old@example.com"))
    assert stale.action == "stale"
    row = ClerkUser.objects.using(alias).get(clerk_id="user_1")
    assert (row.email, row.clerk_version) == ("b@example.com", 3_000)
    same = store.sync(profile(version=3_000, email="c@example.com"))
    assert same.action == "updated"
    assert ClerkUser.objects.using(alias).get(clerk_id="user_1").email == "c@example.com"


def test_absent_claims_keep_data_and_explicit_nulls_clear_it(store: DjangoUserStore[ClerkUser], alias: str) -> None:
    """A profile without ``first_name`` keeps it; ``None`` clears it, and clears metadata to ``{}``."""
    store.sync(profile(email="a@example.com", first_name="Ada", public_metadata={"plan": "pro"}))
    store.sync(profile(version=2_000, email="b@example.com"))
    row = ClerkUser.objects.using(alias).get(clerk_id="user_1")
    assert (row.email, row.first_name, row.public_metadata) == ("b@example.com", "Ada", {"plan": "pro"})
    store.sync(profile(version=3_000, first_name=None, public_metadata=None))
    row = ClerkUser.objects.using(alias).get(clerk_id="user_1")
    assert (row.email, row.first_name, row.public_metadata) == ("b@example.com", None, {})


def test_a_row_from_sub_alone_claims_no_version(store: DjangoUserStore[ClerkUser], alias: str) -> None:
    """Clerk's default token creates the row without a version, so the older Backend API answer still fills it."""
    created = store.sync(profile(version=5_000))
    assert created.action == "created"
    assert created.changed == ("clerk_id",)
    assert created.user.clerk_version is None
    assert created.user.public_metadata == {}
    filled = store.sync(profile(version=4_000, source=Source.API, email="a@example.com"))
    assert filled.action == "updated"
    assert ClerkUser.objects.using(alias).get(clerk_id="user_1").clerk_version == 4_000


def test_tombstones_are_final(store: DjangoUserStore[ClerkUser], alias: str, sent: Sent) -> None:
    """A deleted user stays a row, refuses tokens, and is never written again by a profile, however new."""
    store.sync(profile(email="a@example.com"))
    gone = store.delete(deletion(version=2_000))
    assert gone.action == "deleted"
    assert gone.user.is_deleted
    assert store.delete(deletion(version=3_000)).action == "unchanged"
    with pytest.raises(UserDeletedError):
        store.sync(profile(version=9_000, email="new@example.com"))
    with pytest.raises(UserDeletedError):
        store.read(profile(email="a@example.com"))
    assert store.sync(profile(version=9_000, email="x@example.com"), raise_if_deleted=False).action == "deleted"
    row = ClerkUser.objects.using(alias).get(clerk_id="user_1")
    assert (row.email, row.clerk_version, row.deleted_at is not None) == ("a@example.com", 2_000, True)
    assert sent == [("created", "user_1", "created"), ("deleted", "user_1", "deleted")]


def test_a_deletion_before_first_sight_leaves_a_tombstone(store: DjangoUserStore[ClerkUser], alias: str) -> None:
    """``user.deleted`` arriving before ``user.created`` creates the tombstone, so the late creation is refused."""
    assert store.delete(deletion(clerk_id="user_early")).action == "deleted"
    late = store.apply_webhook(
        "msg_late", "user.created", profile(clerk_id="user_early", source=Source.WEBHOOK, email="e@example.com")
    )
    assert late == "deleted"
    row = ClerkUser.objects.using(alias).get(clerk_id="user_early")
    assert row.deleted_at is not None
    assert row.email is None


def test_many_threads_racing_on_one_new_user_leave_one_row(
    store: DjangoUserStore[ClerkUser], alias: str, sent: Sent
) -> None:
    """Sixteen threads syncing the same first-sight user at once: one row, one creation, one signal."""
    results = race(16, lambda: store.sync(profile(clerk_id="user_race", email="r@example.com")))
    assert ClerkUser.objects.using(alias).filter(clerk_id="user_race").count() == 1
    assert sorted(result.action for result in results) == ["created"] + ["unchanged"] * 15
    assert len({result.user.pk for result in results}) == 1
    assert sent == [("created", "user_race", "created")]


def test_racing_versions_keep_the_newest(store: DjangoUserStore[ClerkUser], alias: str) -> None:
    """Threads writing versions 1..12 of one user in any order: the stored row holds version 12's data."""
    counter = iter(range(1, 13))
    lock = threading.Lock()

    def write() -> Any:
        with lock:
            version = next(counter)
        return store.sync(profile(clerk_id="user_v", version=version * 1_000, email=f"v{version}@example.com"))

    race(12, write)
    row = ClerkUser.objects.using(alias).get(clerk_id="user_v")
    assert (row.email, row.clerk_version) == ("v12@example.com", 12_000)


def test_duplicate_webhook_deliveries_apply_once(store: DjangoUserStore[ClerkUser], alias: str, sent: Sent) -> None:
    """Eight concurrent deliveries of one Svix message: one applies, seven are duplicates, one ledger row."""
    event = profile(clerk_id="user_hook", source=Source.WEBHOOK, email="h@example.com")
    outcomes = race(8, lambda: store.apply_webhook("msg_1", "user.created", event))
    assert sorted(outcomes) == ["created"] + ["duplicate"] * 7
    assert ProcessedWebhook.objects.using(alias).filter(svix_id="msg_1").count() == 1
    assert sent == [("created", "user_hook", "created")]
    assert store.last_webhook_at() is not None
    assert store.apply_webhook("msg_2", "user.deleted", deletion(clerk_id="user_hook")) == "deleted"
    assert store.apply_webhook("msg_2", "user.deleted", deletion(clerk_id="user_hook")) == "duplicate"


def test_a_failed_effect_leaves_no_ledger_row(store: DjangoUserStore[ClerkUser], alias: str) -> None:
    """A refused webhook writes neither its ledger row nor its effect, so Svix's retry is not a duplicate."""
    event = profile(clerk_id="user_bad", source=Source.WEBHOOK, email="x" * 400)
    with pytest.raises(WebhookFieldInvalidError):
        store.apply_webhook("msg_bad", "user.created", event)
    assert not ProcessedWebhook.objects.using(alias).exists()
    assert not ClerkUser.objects.using(alias).exists()
    assert store.last_webhook_at() is None


def test_values_the_columns_cannot_hold_are_refused_by_source(store: DjangoUserStore[ClerkUser], alias: str) -> None:
    """Too long, NUL, a non-object metadata: the token's claim is a 401 error, nothing is written."""
    for fields in ({"email": "a" * 321}, {"first_name": "A\x00da"}, {"public_metadata": [1, 2]}):
        with pytest.raises(TokenClaimInvalidError):
            store.sync(profile(**fields))
    with pytest.raises(TokenClaimInvalidError):
        store.sync(profile(clerk_id="u" * 256))
    assert not ClerkUser.objects.using(alias).exists()


def test_a_mapping_to_an_unknown_column_is_a_configuration_error(store: DjangoUserStore[ClerkUser]) -> None:
    """A claim mapped to a column the model lacks (or one the store owns) fails loudly, never silently."""
    with pytest.raises(ConfigurationError):
        store.sync(profile(favourite_colour="green"))
    with pytest.raises(ConfigurationError):
        store.sync(profile(deleted_at=None))


def test_signals_fire_once_per_write_after_commit(store: DjangoUserStore[ClerkUser], alias: str, sent: Sent) -> None:
    """Created, updated, deleted each signal once; reads signal nothing; inside the app's transaction the
    signal waits for its commit, and a rolled-back write signals nothing."""
    store.sync(profile(email="a@example.com"))
    store.sync(profile(email="a@example.com"))
    store.sync(profile(version=2_000, email="b@example.com"))
    store.sync(profile(version=1_500, email="stale@example.com"))
    assert sent == [("created", "user_1", "created"), ("updated", "user_1", "updated")]

    with transaction.atomic(using=alias):
        store.sync(profile(clerk_id="user_2", email="c@example.com"))
        assert len(sent) == 2
    assert sent[-1] == ("created", "user_2", "created")

    class Abort(Exception):
        pass

    def write_then_abort() -> None:
        with transaction.atomic(using=alias):
            store.sync(profile(clerk_id="user_3", email="d@example.com"))
            raise Abort

    with pytest.raises(Abort):
        write_then_abort()
    assert len(sent) == 3
    assert not ClerkUser.objects.using(alias).filter(clerk_id="user_3").exists()


def test_a_failing_receiver_neither_fails_the_sync_nor_silences_the_others(
    store: DjangoUserStore[ClerkUser], alias: str, sent: Sent, caplog: pytest.LogCaptureFixture
) -> None:
    """A receiver that raises is logged; the write stands and the other receivers still run."""

    def broken(**_: Any) -> None:
        raise RuntimeError("receiver bug")

    user_created.connect(broken, weak=False)
    try:
        with caplog.at_level(logging.ERROR, logger="clerk_sync.store"):
            result = store.sync(profile(email="a@example.com"))
    finally:
        user_created.disconnect(broken)
    assert result.action == "created"
    assert sent == [("created", "user_1", "created")]
    assert any("receiver" in record.getMessage() and record.exc_info for record in caplog.records)


def test_the_audit_log_records_each_write_without_values(
    store: DjangoUserStore[ClerkUser], caplog: pytest.LogCaptureFixture
) -> None:
    """One audit record per write, naming columns, never their values; a read leaves no record."""
    with caplog.at_level(logging.INFO, logger="clerk_sync.audit"):
        store.sync(profile(email="secret@example.com"))
        store.sync(profile(email="secret@example.com"))
    records = [record for record in caplog.records if record.name == "clerk_sync.audit"]
    assert len(records) == 1
    assert records[0].__dict__["changed"] == ["email"]
    assert records[0].__dict__["action"] == "created"
    assert "secret@example.com" not in caplog.text


def test_an_unreachable_database_is_unavailable_not_a_driver_error(django_db_blocker: Any) -> None:
    """Nothing listens at the ``offline`` alias: every method raises ``DatabaseUnavailableError``."""
    store: DjangoUserStore[ClerkUser] = DjangoUserStore(using="offline")
    with django_db_blocker.unblock():
        for call in (
            lambda: store.sync(profile(email="a@example.com")),
            lambda: store.read(profile()),
            lambda: store.delete(deletion()),
            lambda: store.apply_webhook("msg", "user.created", profile(source=Source.WEBHOOK)),
            store.last_webhook_at,
        ):
            with pytest.raises(DatabaseUnavailableError):
                call()
        connections["offline"].close()
