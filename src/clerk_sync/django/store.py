"""``UserStore`` on the Django ORM, for any model extending ``AbstractClerkUser`` (sync and async).

The same rules as the SQLAlchemy stores, from the same place (``clerk_sync.store``): ``carried_values``,
``verdict``, ``changed_columns``, ``write_version``, ``created_changes`` and ``WriteAudit``. Steady state is one
indexed ``SELECT`` and no write. A miss or a change runs ONE guarded ``INSERT ... ON CONFLICT (clerk_id)``
(``clerk_sync.django.sql``), which re-checks the rules in the database, so concurrent writers (threads,
processes) still leave one row per user, in version order, with tombstones final. Never get-then-create.

Writes run in ``transaction.atomic`` on the store's database alias (a savepoint when the app already holds a
transaction, as under ``ATOMIC_REQUESTS``). The audit record and the signals (``clerk_sync.django.signals``) run
through ``transaction.on_commit``: once per write, after the write committed, never for a rolled-back one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max
from django.utils import timezone

from clerk_sync.backfill_store import Checkpoint, PageOutcome, Plan, plan_for
from clerk_sync.django import sql
from clerk_sync.django.conf import get_user_model
from clerk_sync.django.failures import translate_failures
from clerk_sync.django.limits import FieldLimits
from clerk_sync.django.models import AbstractClerkUser, BackfillCheckpoint, ProcessedWebhook
from clerk_sync.django.reader import RowReader
from clerk_sync.django.signals import SIGNALS, sender_for
from clerk_sync.errors import ClerkSyncError, ConfigurationError, DatabaseUnavailableError, UserDeletedError
from clerk_sync.profile import UserDeletion, UserProfile
from clerk_sync.store import (
    Action,
    SyncResult,
    WebhookOutcome,
    WriteAudit,
    carried_values,
    changed_columns,
    created_changes,
    verdict,
    write_version,
)

__all__ = ["AsyncDjangoUserStore", "DjangoUserStore"]

M = TypeVar("M", bound=AbstractClerkUser)


class DjangoUserStore(Generic[M]):
    """``clerk_sync.store.UserStore`` for the Django ORM; build one at start and share it across threads.

    ``model`` defaults to ``CLERK_SYNC_USER_MODEL`` (``clerk_sync.ClerkUser``); ``using`` is the database alias;
    ``logger`` receives the audit trail (default ``clerk_sync.audit``): one record per write, no values.
    """

    def __init__(
        self, model: type[M] | None = None, *, using: str = DEFAULT_DB_ALIAS, logger: logging.Logger | None = None
    ) -> None:
        resolved: type[Any] = get_user_model() if model is None else model
        self.model: type[M] = resolved
        self.using = using
        self._audit = WriteAudit(
            hooks={action: sender_for(signal) for action, signal in SIGNALS.items()}, logger=logger
        )
        self._columns = frozenset(field.attname for field in resolved._meta.concrete_fields)
        self._limits: dict[str, FieldLimits] = {}  # by vendor, built on the first write
        self._reader: RowReader[M] = RowReader(resolved, using)

    @property
    def connection(self) -> BaseDatabaseWrapper:
        """This thread's connection for the store's alias (Django keeps one per thread)."""
        return connections[self.using]

    def read(self, profile: UserProfile) -> SyncResult[M] | None:
        """The stored row when it already reflects ``profile`` (one indexed read), else None."""
        values = carried_values(profile.fields, self._columns)
        with translate_failures():
            user = self._load(profile.clerk_id)
        if user is None:
            return None
        action = verdict(partial(getattr, user), profile.version, values)
        if action is None:
            return None
        if action == "deleted":
            raise UserDeletedError()
        return SyncResult(user, action, profile.source)

    def sync(self, profile: UserProfile, *, raise_if_deleted: bool = True) -> SyncResult[M]:
        """Create on first sight, update what changed, else only read (``UserDeletedError`` for a tombstone)."""
        with translate_failures(profile.source):
            result = self._sync(profile, timezone.now())
        if result.action == "deleted" and raise_if_deleted:
            raise UserDeletedError()
        self._after(result)
        return result

    def delete(self, deletion: UserDeletion) -> SyncResult[M]:
        """Tombstone the user, creating the tombstone if never seen; idempotent, never a hard delete."""
        self.limits().check_deletion(deletion)
        with translate_failures(deletion.source), transaction.atomic(using=self.using):
            result = self._delete(deletion, timezone.now())
        self._after(result)
        return result

    def apply_webhook(self, svix_id: str, event_type: str, change: UserProfile | UserDeletion) -> WebhookOutcome:
        """Apply one Svix message exactly once: its ledger row and its effect commit in one transaction.

        Everything is checked before the ledger row: a refused event leaves no trace, so it is not "applied".
        """
        limits = self.limits()
        limits.check_webhook(svix_id, event_type)
        if isinstance(change, UserDeletion):
            limits.check_deletion(change)
        else:
            limits.check_profile(change, carried_values(change.fields, self._columns))
        now = timezone.now()
        with translate_failures(change.source), transaction.atomic(using=self.using):
            statement = sql.ledger_insert(
                ProcessedWebhook, self.connection, svix_id=svix_id, event_type=event_type, now=now
            )
            if self._execute(statement) is None:
                return "duplicate"
            if isinstance(change, UserDeletion):
                result = self._delete(change, now)
            else:
                result = self._sync(change, now, checked=True)
        self._after(result)
        return result.action

    def plan(self, profile: UserProfile) -> Action:
        """What ``sync`` would do now, without writing (dry runs): one indexed read."""
        values = carried_values(profile.fields, self._columns)
        with translate_failures():
            user = self._load(profile.clerk_id)
        if user is None:
            return "created"
        return verdict(partial(getattr, user), profile.version, values) or "updated"

    def last_webhook_at(self) -> datetime | None:
        """When the latest webhook was applied (None: never); raises ``DatabaseUnavailableError`` when down."""
        with translate_failures():
            latest: datetime | None = ProcessedWebhook.objects.using(self.using).aggregate(latest=Max("processed_at"))[
                "latest"
            ]
        return latest

    def close(self) -> None:
        """Nothing to release: Django owns its connections (``CONN_MAX_AGE``) and closes them per request."""

    def limits(self) -> FieldLimits:
        """What the model's fields hold on the store's database (built once per vendor)."""
        connection = self.connection
        limits = self._limits.get(connection.vendor)
        if limits is None:
            limits = self._limits[connection.vendor] = FieldLimits(self.model, ProcessedWebhook, connection)
        return limits

    def sync_page(self, profiles: Sequence[UserProfile]) -> list[PageOutcome]:
        """``sync(raise_if_deleted=False)`` for a page of profiles in ONE transaction (``BackfillStore``).

        One read for the page, then each due write in its own savepoint: a value the database refuses rolls
        back that user's savepoint only and becomes that user's outcome, so the page's other users are written
        all the same. Audit records and signals run once the page has committed.
        """
        now = timezone.now()
        outcomes: list[PageOutcome] = []
        with translate_failures(), transaction.atomic(using=self.using):
            stored = self._load_many([profile.clerk_id for profile in profiles])
            touched: set[str] = set()
            for profile in profiles:
                # The page's read is what was stored before the page; a second sight of an id re-reads it.
                seen_before = profile.clerk_id in touched
                touched.add(profile.clerk_id)
                try:
                    with translate_failures(profile.source):
                        user = self._load(profile.clerk_id) if seen_before else stored.get(profile.clerk_id)
                        result = self._sync_stored(profile, user, now)
                except (DatabaseUnavailableError, ConfigurationError):
                    raise
                except ClerkSyncError as refused_value:
                    outcomes.append(refused_value)
                    continue
                self._after(result)
                outcomes.append(result)
        return outcomes

    def plan_page(self, profiles: Sequence[UserProfile]) -> list[Plan]:
        """What ``sync_page`` would do now, without writing: one read for the page."""
        with translate_failures():
            stored = self._load_many([profile.clerk_id for profile in profiles])
        plans: list[Plan] = []
        for profile in profiles:
            user = stored.get(profile.clerk_id)
            read = None if user is None else partial(getattr, user)
            plans.append(plan_for(read, profile.version, carried_values(profile.fields, self._columns)))
        return plans

    def prune_candidates(self, created_before: datetime) -> list[str]:
        """Ids of live rows created before ``created_before``, in id order (only the ids: never whole rows)."""
        rows = self.model._base_manager.using(self.using).filter(deleted_at__isnull=True, created_at__lt=created_before)
        with translate_failures():
            return [str(clerk_id) for clerk_id in rows.order_by("clerk_id").values_list("clerk_id", flat=True)]

    def load_checkpoint(self, walk: str) -> Checkpoint | None:
        """The backfill walk's checkpoint (``clerk_backfill_checkpoints``), None when there is none."""
        with translate_failures():
            row = BackfillCheckpoint.objects.using(self.using).filter(name=walk).first()
        if row is None:
            return None
        return Checkpoint(row.last_created_at, frozenset(json.loads(row.last_ids)), row.pages, row.users)

    def save_checkpoint(self, walk: str, checkpoint: Checkpoint) -> None:
        """Record the walk's checkpoint (``update_or_create`` is enough: a walk has one writer, its run)."""
        with translate_failures(), transaction.atomic(using=self.using):
            BackfillCheckpoint.objects.using(self.using).update_or_create(
                name=walk,
                defaults={
                    "last_created_at": checkpoint.last_created_at,
                    "last_ids": json.dumps(sorted(checkpoint.last_ids)),
                    "pages": checkpoint.pages,
                    "users": checkpoint.users,
                    "updated_at": timezone.now(),
                },
            )

    def clear_checkpoint(self, walk: str) -> None:
        """Forget the walk's checkpoint."""
        with translate_failures():
            BackfillCheckpoint.objects.using(self.using).filter(name=walk).delete()

    def _sync(self, profile: UserProfile, now: datetime, *, checked: bool = False) -> SyncResult[M]:
        """Read, and upsert only on a miss or a change; the profile is checked only once a write is due."""
        return self._sync_stored(profile, self._load(profile.clerk_id), now, checked=checked)

    def _sync_stored(
        self, profile: UserProfile, user: M | None, now: datetime, *, checked: bool = False
    ) -> SyncResult[M]:
        """``_sync`` given what is stored (``user``, None for a miss)."""
        values = carried_values(profile.fields, self._columns)
        if user is not None:
            action = verdict(partial(getattr, user), profile.version, values)
            if action is not None:
                return SyncResult(user, action, profile.source)
        if not checked:
            self.limits().check_profile(profile, values)
        changed = changed_columns(None if user is None else partial(getattr, user), values)
        statement = sql.upsert(
            self.model,
            self.connection,
            clerk_id=profile.clerk_id,
            version=write_version(profile, values),
            values=values,
            now=now,
        )
        with transaction.atomic(using=self.using):
            written = self._write(statement)
            if written is not None:
                if written.created_at == now:  # only an insert binds our ``now`` to created_at
                    return SyncResult(written, "created", profile.source, created_changes(values))
                return SyncResult(written, "updated", profile.source, changed)
            # Another writer got there first (a concurrent first request, a newer event, a deletion).
            user = self._load(profile.clerk_id)
        if user is None:  # pragma: no cover - rows are never hard-deleted
            raise RuntimeError(f"user {profile.clerk_id!r} vanished during upsert")
        action = verdict(partial(getattr, user), profile.version, values) or "unchanged"
        return SyncResult(user, action, profile.source)

    def _delete(self, deletion: UserDeletion, now: datetime) -> SyncResult[M]:
        statement = sql.tombstone(
            self.model, self.connection, clerk_id=deletion.clerk_id, version=deletion.version, now=now
        )
        written = self._write(statement)
        if written is not None:
            return SyncResult(written, "deleted", deletion.source, ("deleted_at",))
        user = self._load(deletion.clerk_id)
        if user is None:  # pragma: no cover - rows are never hard-deleted
            raise RuntimeError(f"user {deletion.clerk_id!r} vanished during delete")
        return SyncResult(user, "unchanged", deletion.source)

    def _load_many(self, clerk_ids: Sequence[str]) -> dict[str, M]:
        """One indexed read of every listed user that is stored (a page is at most 500 ids: one ``IN`` list)."""
        if not clerk_ids:
            return {}
        found = self.model._base_manager.using(self.using).filter(clerk_id__in=list(clerk_ids))
        return {user.clerk_id: user for user in found}

    def _load(self, clerk_id: str) -> M | None:
        """One indexed read, as the base manager sees the table (an app's default manager may hide tombstones)."""
        return self._reader.get(clerk_id)

    def _write(self, statement: sql.Statement) -> M | None:
        row = self._execute(statement)
        return None if row is None else sql.from_row(self.model, self.connection, self.using, row)

    def _execute(self, statement: sql.Statement) -> tuple[Any, ...] | None:
        with self.connection.cursor() as cursor:
            cursor.execute(statement.sql, statement.params)
            row: tuple[Any, ...] | None = cursor.fetchone()
        return row

    def _after(self, result: SyncResult[M]) -> None:
        """Audit and signal a write once it committed (at once, or when the app's own transaction commits)."""
        if result.changed:
            transaction.on_commit(partial(self._audit.after, result), using=self.using)


class AsyncDjangoUserStore(Generic[M]):
    """``clerk_sync.store.AsyncUserStore`` for ASGI apps and async views, over ``DjangoUserStore``.

    Reads (``read``, ``plan``, ``last_webhook_at``) use Django's async ORM (``afirst``, ``aaggregate``). Writes
    run the sync store's guarded SQL through ``sync_to_async(thread_sensitive=True)``: Django has no async
    cursor, and the thread-sensitive executor keeps each write on the thread that owns the connection and its
    transaction, as Django's own async ORM methods do. Signals are then sent from that thread, after commit.
    """

    def __init__(
        self, model: type[M] | None = None, *, using: str = DEFAULT_DB_ALIAS, logger: logging.Logger | None = None
    ) -> None:
        self.store: DjangoUserStore[M] = DjangoUserStore(model, using=using, logger=logger)
        self.model: type[M] = self.store.model
        self.using = using
        self._columns = frozenset(field.attname for field in self.model._meta.concrete_fields)

    async def read(self, profile: UserProfile) -> SyncResult[M] | None:
        """The stored row when it already reflects ``profile`` (one indexed async read), else None."""
        values = carried_values(profile.fields, self._columns)
        user = await self._load(profile.clerk_id)
        if user is None:
            return None
        action = verdict(partial(getattr, user), profile.version, values)
        if action is None:
            return None
        if action == "deleted":
            raise UserDeletedError()
        return SyncResult(user, action, profile.source)

    async def sync(self, profile: UserProfile, *, raise_if_deleted: bool = True) -> SyncResult[M]:
        """``DjangoUserStore.sync`` off the event loop; the steady state costs one async read and no hop more."""
        hit = await self.read(profile) if raise_if_deleted else None
        if hit is not None:
            return hit
        result: SyncResult[M] = await sync_to_async(self.store.sync, thread_sensitive=True)(
            profile, raise_if_deleted=raise_if_deleted
        )
        return result

    async def delete(self, deletion: UserDeletion) -> SyncResult[M]:
        """``DjangoUserStore.delete`` off the event loop."""
        result: SyncResult[M] = await sync_to_async(self.store.delete, thread_sensitive=True)(deletion)
        return result

    async def apply_webhook(self, svix_id: str, event_type: str, change: UserProfile | UserDeletion) -> WebhookOutcome:
        """``DjangoUserStore.apply_webhook`` off the event loop: ledger row and effect in one transaction."""
        outcome: WebhookOutcome = await sync_to_async(self.store.apply_webhook, thread_sensitive=True)(
            svix_id, event_type, change
        )
        return outcome

    async def plan(self, profile: UserProfile) -> Action:
        """What ``sync`` would do now, without writing: one indexed async read."""
        values = carried_values(profile.fields, self._columns)
        user = await self._load(profile.clerk_id)
        if user is None:
            return "created"
        return verdict(partial(getattr, user), profile.version, values) or "updated"

    async def last_webhook_at(self) -> datetime | None:
        """When the latest webhook was applied (None: never); raises ``DatabaseUnavailableError`` when down."""
        with translate_failures():
            found: Mapping[str, Any] = await ProcessedWebhook.objects.using(self.using).aaggregate(
                latest=Max("processed_at")
            )
        latest: datetime | None = found["latest"]
        return latest

    async def sync_page(self, profiles: Sequence[UserProfile]) -> list[PageOutcome]:
        """``DjangoUserStore.sync_page`` off the event loop: the page in one transaction."""
        outcomes: list[PageOutcome] = await sync_to_async(self.store.sync_page, thread_sensitive=True)(profiles)
        return outcomes

    async def plan_page(self, profiles: Sequence[UserProfile]) -> list[Plan]:
        """``DjangoUserStore.plan_page`` off the event loop."""
        plans: list[Plan] = await sync_to_async(self.store.plan_page, thread_sensitive=True)(profiles)
        return plans

    async def prune_candidates(self, created_before: datetime) -> list[str]:
        """``DjangoUserStore.prune_candidates`` off the event loop."""
        found: list[str] = await sync_to_async(self.store.prune_candidates, thread_sensitive=True)(created_before)
        return found

    async def load_checkpoint(self, walk: str) -> Checkpoint | None:
        """``DjangoUserStore.load_checkpoint`` off the event loop."""
        found: Checkpoint | None = await sync_to_async(self.store.load_checkpoint, thread_sensitive=True)(walk)
        return found

    async def save_checkpoint(self, walk: str, checkpoint: Checkpoint) -> None:
        """``DjangoUserStore.save_checkpoint`` off the event loop."""
        await sync_to_async(self.store.save_checkpoint, thread_sensitive=True)(walk, checkpoint)

    async def clear_checkpoint(self, walk: str) -> None:
        """``DjangoUserStore.clear_checkpoint`` off the event loop."""
        await sync_to_async(self.store.clear_checkpoint, thread_sensitive=True)(walk)

    async def close(self) -> None:
        """Nothing to release: Django owns its connections."""

    async def _load(self, clerk_id: str) -> M | None:
        with translate_failures():
            found: M | None = await self.model._base_manager.using(self.using).filter(clerk_id=clerk_id).afirst()
        return found
