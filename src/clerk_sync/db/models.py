"""The default tables: the ``users`` model for apps that need nothing extra, and the webhook ledger.

``ProcessedWebhook`` rows are the durable memory of which Svix messages were applied; the unique ``svix_id``
(not a read before the write) is what makes a redelivered message a no-op.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from clerk_sync.db.base import Base
from clerk_sync.db.mixin import ClerkUserMixin, utcnow

__all__ = ["Base", "ProcessedWebhook", "User"]  # Base re-exported: importing it here registers the tables


class User(ClerkUserMixin, Base):
    """The default local user row, one per Clerk user."""

    __tablename__ = "users"


class ProcessedWebhook(Base):
    """One applied (or deliberately ignored) Svix message."""

    __tablename__ = "clerk_webhook_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    svix_id: Mapped[str] = mapped_column(String(255), unique=True)
    event_type: Mapped[str] = mapped_column(String(255))
    #: Indexed because health checks ask for the latest one and the table only grows.
    processed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
