"""The webhook ledger: which Svix messages were applied, decided by the unique ``svix_id``.

Both take a synchronous ``Session`` (the async store runs them through ``AsyncSession.run_sync``).
``record_webhook`` runs inside the caller's transaction, before the event's effect: if the effect fails, the
ledger row rolls back with it and Svix's retry applies the event again; if it commits, a redelivery finds the row.

The ledger only has to remember an id while Svix may still redeliver it: ``prune_webhook_batch`` forgets rows
older than that, a bounded batch at a time (each batch its own short transaction, chosen by the indexed
``processed_at``), so pruning a large backlog never holds locks a delivery waits for.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from clerk_sync.db.models import ProcessedWebhook
from clerk_sync.db.upsert import dialect_insert

__all__ = [
    "DEFAULT_PRUNE_BATCH",
    "DEFAULT_WEBHOOK_RETENTION",
    "SVIX_RETRY_WINDOW",
    "last_webhook_at",
    "prune_webhook_batch",
    "record_webhook",
]

#: Svix's longest retry schedule (docs.svix.com/retries): after the first attempt, retries 5 s, 5 min, 30 min,
#: 2 h, 5 h, 10 h and 10 h after the failure before each; about 27.6 hours in all. Until then a message may come
#: back, so its id must still be in the ledger.
SVIX_RETRY_WINDOW = sum(
    (
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
    ),
    timedelta(),
)

#: How long an applied id is kept: the retry window plus a week, for a manual replay from Clerk's dashboard and
#: clocks that disagree.
DEFAULT_WEBHOOK_RETENTION = SVIX_RETRY_WINDOW + timedelta(days=7)

#: Rows deleted per transaction: small enough that a batch holds its locks for milliseconds.
DEFAULT_PRUNE_BATCH = 1000


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


def prune_webhook_batch(session: Session, *, older_than: datetime, batch: int) -> int:
    """Delete at most ``batch`` ledger rows processed before ``older_than``; how many went.

    The oldest first, picked through the ``processed_at`` index by primary key, so a batch touches exactly the
    rows it deletes and never a recent one a redelivery is checking. The caller commits, one batch at a time.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    if older_than.tzinfo is None:
        raise ValueError("older_than must be an aware datetime (the ledger stores UTC)")
    oldest = (
        select(ProcessedWebhook.id)
        .where(ProcessedWebhook.processed_at < older_than)
        .order_by(ProcessedWebhook.processed_at)
        .limit(batch)
    )
    result = session.execute(
        delete(ProcessedWebhook)
        .where(ProcessedWebhook.id.in_(oldest.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
