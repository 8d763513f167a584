"""The backfill's own rows in SQLAlchemy: its checkpoint (``clerk_backfill_checkpoints``) and its prune query.

Functions on a synchronous ``Session``, run by ``AsyncSQLAlchemyStore`` through ``run_sync`` as the user
operations are; none commits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clerk_sync.backfill_store import Checkpoint
from clerk_sync.db.mixin import utcnow
from clerk_sync.db.models import BackfillCheckpoint

__all__ = ["clear_checkpoint", "load_checkpoint", "prune_candidates", "save_checkpoint"]


def load_checkpoint(session: Session, walk: str) -> Checkpoint | None:
    """The walk's checkpoint row as a ``Checkpoint``; None when there is none."""
    row = session.get(BackfillCheckpoint, walk)
    if row is None:
        return None
    return Checkpoint(row.last_created_at, frozenset(json.loads(row.last_ids)), row.pages, row.users)


def save_checkpoint(session: Session, walk: str, checkpoint: Checkpoint) -> None:
    """Insert or overwrite the walk's row (one writer per walk: a backfill run is one process)."""
    row = session.get(BackfillCheckpoint, walk)
    if row is None:
        row = BackfillCheckpoint(name=walk)
        session.add(row)
    row.last_created_at = checkpoint.last_created_at
    row.last_ids = json.dumps(sorted(checkpoint.last_ids))
    row.pages = checkpoint.pages
    row.users = checkpoint.users
    row.updated_at = utcnow()


def clear_checkpoint(session: Session, walk: str) -> None:
    """Delete the walk's row, if any."""
    session.execute(delete(BackfillCheckpoint).where(BackfillCheckpoint.name == walk))


def prune_candidates(session: Session, model: type[Any], created_before: datetime) -> list[str]:
    """Ids of live rows created before ``created_before``, in id order (only the ids: never whole rows)."""
    return list(
        session.execute(
            select(model.clerk_id)
            .where(model.deleted_at.is_(None), model.created_at < created_before)
            .order_by(model.clerk_id)
        ).scalars()
    )
