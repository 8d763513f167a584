"""The synced columns, offered as a mixin so the app owns its user model (table name, extra columns, relations).

Every column states its type explicitly instead of relying on the declarative base's ``type_annotation_map``:
the mixin is mixed into the app's own base, whose map we do not control.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from clerk_sync.db.base import UTCDateTime
from clerk_sync.store import ENGINE_COLUMNS  # re-exported: columns a store writes itself

__all__ = ["DECLARED_LENGTHS", "ENGINE_COLUMNS", "ClerkUserMixin", "JSONDocument", "utcnow"]

#: JSONB on PostgreSQL: plain ``json`` has no equality operator, and the upsert compares documents.
#: ``none_as_null``: a cleared document is SQL NULL, not the JSON text ``null``.
JSONDocument = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


#: The most characters a synced ``Text`` column accepts (a ``String(n)`` column's own ``n`` wins). ``Text`` has
#: no limit of its own, yet no real value comes near these: an address is at most 320 characters (RFC 5321:
#: 64 + 1 + 255), Clerk caps names at 256, an image URL is a few hundred. They are declared here rather than in
#: the schema, so the tables (and their migrations) stay as they are.
DECLARED_LENGTHS: Mapping[str, int] = MappingProxyType(
    {"email": 320, "first_name": 1024, "last_name": 1024, "image_url": 4096}
)


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
