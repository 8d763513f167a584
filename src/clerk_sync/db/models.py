"""The default tables: the ``users`` model for apps that need nothing extra, the webhook ledger, and the
backfill checkpoint.

``ProcessedWebhook`` rows are the durable memory of which Svix messages were applied; the unique ``svix_id``
(not a read before the write) is what makes a redelivered message a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from clerk_sync.db.base import Base
from clerk_sync.db.mixin import ClerkUserMixin, utcnow

__all__ = [
    "BackfillCheckpoint",
    "Base",
    "ProcessedWebhook",
    "User",
]  # Base re-exported: importing it here registers the tables


class User(ClerkUserMixin, Base):
    """The default local user row, one per Clerk user."""

    __tablename__ = "users"


class ProcessedWebhook(Base):
    """One applied Svix message (created, updated or deleted a user).

    Events of other types are answered ``ignored`` and not recorded: ignoring is idempotent, so a redelivery
    needs no ledger row, and Clerk sends many types (sessions, organizations) that would only fill the table.
    """

    __tablename__ = "clerk_webhook_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    svix_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(255))
    #: Indexed because health checks ask for the latest one and the table only grows.
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class BackfillCheckpoint(Base):
    """Where an unfinished backfill stands, so ``--resume`` requests no finished page again.

    One row per walk (``name``), rewritten after each finished page and deleted when the run finishes. The key
    is the page key of ``clerk_sync.backend_api.PageKey``: the newest ``created_at`` (Clerk's milliseconds)
    read, and the ids read in that millisecond (a JSON array, almost always of one id).
    """

    __tablename__ = "clerk_backfill_checkpoints"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_created_at: Mapped[int] = mapped_column(BigInteger())
    last_ids: Mapped[str] = mapped_column(Text())
    pages: Mapped[int] = mapped_column(Integer())
    users: Mapped[int] = mapped_column(Integer())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
