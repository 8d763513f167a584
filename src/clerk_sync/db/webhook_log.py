"""The webhook ledger: which Svix messages were applied, decided by the unique ``svix_id``.

Both take a synchronous ``Session`` (the async store runs them through ``AsyncSession.run_sync``).
``record_webhook`` runs inside the caller's transaction, before the event's effect: if the effect fails, the
ledger row rolls back with it and Svix's retry applies the event again; if it commits, a redelivery finds the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clerk_sync.db.models import ProcessedWebhook
from clerk_sync.db.upsert import dialect_insert

__all__ = ["last_webhook_at", "record_webhook"]


def record_webhook(session: Session, *, svix_id: str, event_type: str, now: datetime) -> bool:
    """Claim ``svix_id`` for this transaction; False when it was already processed (or is being, concurrently).

    ``ON CONFLICT DO NOTHING`` waits for a concurrent transaction holding the same id and then reports the
    conflict, so two deliveries racing each other still apply the event once.
    """
    stmt = (
        dialect_insert(session.get_bind().dialect.name)(ProcessedWebhook)
        .values(svix_id=svix_id, event_type=event_type, processed_at=now)
        .on_conflict_do_nothing(index_elements=[ProcessedWebhook.svix_id])
        .returning(ProcessedWebhook.id)
    )
    return session.execute(stmt).scalar_one_or_none() is not None


def last_webhook_at(session: Session) -> datetime | None:
    """When the latest webhook was applied; health reports use it to spot a silent webhook endpoint."""
    return session.execute(select(func.max(ProcessedWebhook.processed_at))).scalar_one_or_none()
