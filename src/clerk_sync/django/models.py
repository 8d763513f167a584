"""The synced columns as an abstract model, the ready concrete ``ClerkUser`` (table ``users``) and the ledger.

The tables match the SQLAlchemy default schema (``clerk_sync/db/migrations/versions/0001_initial.py``) column
for column, so a database migrated by either framework serves the other and the black-box suite sees one schema.

An app that owns its model extends ``AbstractClerkUser`` and points ``CLERK_SYNC_USER_MODEL`` at it; the
concrete ``ClerkUser`` is then swapped out (no ``users`` table). For a custom ``AUTH_USER_MODEL`` built on
``AbstractBaseUser``::

    from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
    from clerk_sync.django.models import AbstractClerkUser

    class Account(AbstractBaseUser, AbstractClerkUser):
        USERNAME_FIELD = "clerk_id"        # Clerk's id is the natural key; there is no local sign-in
        objects = BaseUserManager()        # get_by_natural_key, for auth and the admin

    # settings.py
    AUTH_USER_MODEL = CLERK_SYNC_USER_MODEL = "accounts.Account"

The store fills ``password`` with Django's default (an empty string, which matches no password), so the row
only ever authenticates through a verified Clerk token.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from clerk_sync.django.conf import USER_MODEL_SETTING

__all__ = [
    "SYNCED_FIELDS",
    "AbstractClerkUser",
    "BackfillCheckpoint",
    "ClerkUser",
    "JSONDocumentField",
    "ProcessedWebhook",
]

#: The columns clerk-sync writes; the admin shows them read-only (Clerk owns them, an edit would be overwritten).
SYNCED_FIELDS = (
    "clerk_id",
    "email",
    "first_name",
    "last_name",
    "image_url",
    "public_metadata",
    "private_metadata",
    "created_at",
    "updated_at",
    "deleted_at",
    "clerk_version",
)


class JSONDocumentField(models.JSONField):
    """``JSONField`` whose SQLite column is declared ``JSON``, as SQLAlchemy's ``JSON`` type declares it.

    Django declares ``text``; the values are the same (JSON text, checked by ``JSON_VALID``), only the declared
    type differs, and an inspector comparing the two schemas would see it. PostgreSQL gets ``jsonb`` either way.
    The synced documents are JSON objects (``clerk_sync.django.limits``), which SQLite's affinity for ``JSON``
    never converts.
    """

    def db_type(self, connection: BaseDatabaseWrapper) -> str | None:
        """``json`` on SQLite, Django's own type elsewhere."""
        if connection.vendor == "sqlite":
            return "json"
        return super().db_type(connection)


class AbstractClerkUser(models.Model):
    """The columns kept in sync with Clerk; an app's model extends it (its ``AUTH_USER_MODEL`` included).

    ``email`` is deliberately not unique: Clerk lets a user change addresses and re-use one another user just
    released. ``clerk_version`` (milliseconds) is the version of the last write and keeps stale events from
    overwriting fresher data. Rows are never hard-deleted: a deleted Clerk user becomes a tombstone
    (``deleted_at``), so foreign keys hold and the id is never re-created.
    """

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    if TYPE_CHECKING:
        # What instances hold. django-stubs types the field as a descriptor, which mypy does not match against
        # the ``StoredUser`` protocol through a type variable bound to this class (as the stores use it).
        clerk_id: str
    else:
        clerk_id = models.CharField(max_length=255, unique=True)
    email: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    first_name: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    last_name: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    image_url: models.TextField[str | None, str | None] = models.TextField(null=True, blank=True)
    public_metadata = JSONDocumentField(default=dict, blank=True)
    #: Filled only by sources the app opted in for (tokens never carry it).
    private_metadata = JSONDocumentField(null=True, blank=True)
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now)
    #: Set by the store's upsert: ``auto_now`` does not run for raw SQL.
    updated_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now)
    deleted_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(null=True, blank=True)
    clerk_version: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(null=True, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.clerk_id

    @property
    def is_authenticated(self) -> bool:
        """True, as on Django's users: a row reaches a view only for a verified token, so DRF's
        ``IsAuthenticated`` and templates' ``user.is_authenticated`` work on any synced model."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """False: the counterpart of ``is_authenticated`` (Django's ``AnonymousUser`` says True)."""
        return False

    @property
    def is_deleted(self) -> bool:
        """A tombstoned user stays in the table so foreign keys hold and the id is never re-created."""
        return self.deleted_at is not None


class ClerkUser(AbstractClerkUser):
    """The default local user row, one per Clerk user; swapped out by ``CLERK_SYNC_USER_MODEL``."""

    class Meta(AbstractClerkUser.Meta):
        abstract = False
        db_table = "users"
        swappable = USER_MODEL_SETTING
        verbose_name = "Clerk user"


class ProcessedWebhook(models.Model):
    """One applied Svix message; the unique ``svix_id`` makes a redelivery a no-op.

    Events of other types are answered ``ignored`` and not recorded (ignoring is idempotent).
    """

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    svix_id: models.CharField[str, str] = models.CharField(max_length=255, unique=True)
    event_type: models.CharField[str, str] = models.CharField(max_length=255)
    #: Indexed because health checks ask for the latest one and the table only grows.
    processed_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now, db_index=True)

    objects: ClassVar[models.Manager[ProcessedWebhook]] = models.Manager()

    class Meta:
        db_table = "clerk_webhook_events"
        verbose_name = "processed webhook"

    def __str__(self) -> str:
        return self.svix_id


class BackfillCheckpoint(models.Model):
    """Where an unfinished ``clerk_backfill`` stands, so ``--resume`` requests no finished page again.

    The same table as the SQLAlchemy ``BackfillCheckpoint`` (Alembic revision 0002), column for column: one row
    per walk, rewritten after each finished page and deleted when the run finishes; ``last_created_at`` is
    Clerk's milliseconds, ``last_ids`` a JSON array of the ids read in that millisecond.
    """

    name: models.CharField[str, str] = models.CharField(max_length=64, primary_key=True)
    last_created_at: models.BigIntegerField[int, int] = models.BigIntegerField()
    last_ids: models.TextField[str, str] = models.TextField()
    pages: models.IntegerField[int, int] = models.IntegerField()
    users: models.IntegerField[int, int] = models.IntegerField()
    updated_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(default=timezone.now)

    objects: ClassVar[models.Manager[BackfillCheckpoint]] = models.Manager()

    class Meta:
        db_table = "clerk_backfill_checkpoints"
        verbose_name = "backfill checkpoint"

    def __str__(self) -> str:
        return self.name
