"""Create ``users`` and ``clerk_webhook_events``.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 15:22:53

Frozen on purpose: plain SQLAlchemy types only (``UTCDateTime`` is ``DateTime(timezone=True)`` in the
database), so later changes to the models never change what this revision creates.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    """Create both tables with the names the naming convention gives them."""
    op.create_table(
        "users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("clerk_id", sa.String(length=255), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=True),
        sa.Column("last_name", sa.Text(), nullable=True),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("public_metadata", _JSON, server_default=sa.text("'{}'"), nullable=False),
        sa.Column("private_metadata", _JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clerk_version", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index(op.f("ix_users_clerk_id"), "users", ["clerk_id"], unique=True)
    op.create_table(
        "clerk_webhook_events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("svix_id", sa.String(length=255), nullable=False),
        sa.Column("event_type", sa.String(length=255), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clerk_webhook_events")),
        sa.UniqueConstraint("svix_id", name=op.f("uq_clerk_webhook_events_svix_id")),
    )
    op.create_index(
        op.f("ix_clerk_webhook_events_processed_at"), "clerk_webhook_events", ["processed_at"], unique=False
    )


def downgrade() -> None:
    """Drop both tables (and with them every synced user and the webhook ledger)."""
    op.drop_index(op.f("ix_clerk_webhook_events_processed_at"), table_name="clerk_webhook_events")
    op.drop_table("clerk_webhook_events")
    op.drop_index(op.f("ix_users_clerk_id"), table_name="users")
    op.drop_table("users")
