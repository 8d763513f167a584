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

import logging
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max
from django.utils import timezone

from clerk_sync.django import sql
from clerk_sync.django.conf import get_user_model
from clerk_sync.django.failures import translate_failures
from clerk_sync.django.limits import FieldLimits
from clerk_sync.django.models import AbstractClerkUser, ProcessedWebhook
from clerk_sync.django.reader import RowReader
from clerk_sync.django.signals import SIGNALS, sender_for
from clerk_sync.errors import UserDeletedError
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

    def _sync(self, profile: UserProfile, now: datetime, *, checked: bool = False) -> SyncResult[M]:
        """Read, and upsert only on a miss or a change; the profile is checked only once a write is due."""
        values = carried_values(profile.fields, self._columns)
        user = self._load(profile.clerk_id)
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

    async def close(self) -> None:
        """Nothing to release: Django owns its connections."""

    async def _load(self, clerk_id: str) -> M | None:
        with translate_failures():
            found: M | None = await self.model._base_manager.using(self.using).filter(clerk_id=clerk_id).afirst()
        return found
