"""The synced columns, offered as a mixin so the app owns its user model (table name, extra columns, relations).

Every column states its type explicitly instead of relying on the declarative base's ``type_annotation_map``:
the mixin is mixed into the app's own base, whose map we do not control.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from clerk_sync.db.base import UTCDateTime
from clerk_sync.store import (  # shared with the Django store, which loads no SQLAlchemy
    DECLARED_LENGTHS,
    ENGINE_COLUMNS,
)

__all__ = ["DECLARED_LENGTHS", "ENGINE_COLUMNS", "ClerkUserMixin", "JSONDocument", "utcnow"]

#: JSONB on PostgreSQL: plain ``json`` has no equality operator, and the upsert compares documents.
#: ``none_as_null``: a cleared document is SQL NULL, not the JSON text ``null``.
JSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def utcnow() -> datetime:
    """The one clock of the db package, aware so it round-trips through ``UTCDateTime``."""
    return datetime.now(UTC)


class ClerkUserMixin:
    """Columns kept in sync with Clerk. Mix into the app's declarative model and give it a ``__tablename__``.

    ``email`` is deliberately not unique: Clerk lets a user change addresses and re-use one another user just
    released, and the upsert order between two users is not guaranteed. ``clerk_version`` (milliseconds) is the
    version of the last write and is what keeps stale events from overwriting fresher data.
    """

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    clerk_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    email: Mapped[str | None] = mapped_column(Text())
    first_name: Mapped[str | None] = mapped_column(Text())
    last_name: Mapped[str | None] = mapped_column(Text())
    image_url: Mapped[str | None] = mapped_column(Text())
    public_metadata: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict, server_default=text("'{}'"))
    #: Filled only by sources the app opted in for (tokens never carry it).
    private_metadata: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Set explicitly by the upsert: ``onupdate`` does not run under ``ON CONFLICT DO UPDATE``.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clerk_version: Mapped[int | None] = mapped_column(BigInteger())

    @property
    def is_deleted(self) -> bool:
        """A tombstoned user stays in the table so foreign keys hold and the id is never re-created."""
        return self.deleted_at is not None
