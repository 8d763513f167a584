"""Create ``clerk_backfill_checkpoints``, so an interrupted backfill resumes after its last finished page.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00

Frozen on purpose, like 0001: plain SQLAlchemy types only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """A small table; it holds at most one row per backfill walk."""
    op.create_table(
        "clerk_backfill_checkpoints",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_ids", sa.Text(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("users", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_clerk_backfill_checkpoints")),
    )


def downgrade() -> None:
    """Drop the checkpoint; the next backfill starts from the first page."""
    op.drop_table("clerk_backfill_checkpoints")
