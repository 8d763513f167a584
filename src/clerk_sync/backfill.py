"""Backfill and reconcile: bring every Clerk user into the table through the same store as requests.

Users who signed up before the app existed never made a request, and webhooks may have been missed while the
endpoint was down. The backfill pages through the Backend API and syncs each user with source ``backfill``, so
versions still decide: a re-run writes nothing, a stale page never overwrites a fresher row, and a tombstone is
never resurrected. ``prune`` tombstones local users Clerk no longer has, but only after Clerk confirms each one
with a 404: offset paging can miss a user, a confirmed 404 cannot.

This module knows no web framework and no terminal: the CLI adds the progress bar and the summary table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from clerk_sync.backend_api import MAX_PAGE_SIZE, BackendAPI
from clerk_sync.db import Action, AsyncSQLAlchemyStore
from clerk_sync.db.failures import unavailable_on_failure
from clerk_sync.errors import BackendAPIError
from clerk_sync.mapping import profile_from_user_json
from clerk_sync.profile import Source, UserDeletion, UserProfile
from clerk_sync.store import carried_values, changed_columns, created_changes

__all__ = ["BackfillReport", "PlannedAction", "PlannedChange", "Progress", "backfill"]

#: The writes a run can make: a new row, a changed row, a tombstone for a user Clerk no longer has.
PlannedAction = Literal["created", "updated", "pruned"]


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One row a dry run would write, with the columns it would change, so the operator can judge the run."""

    clerk_id: str
    action: PlannedAction
    columns: tuple[str, ...] = ()


@dataclass(slots=True)
class BackfillReport:
    """Counts of one run; ``planned`` lists the writes a dry run would have made (empty for a real run).

    Skips are split by reason because they call for different reactions: ``stale`` (the row holds a newer
    version, e.g. from a token seen meanwhile) and ``deleted`` (a tombstone is never resurrected) are the
    engine working as intended; ``invalid`` (a user object that cannot be read) deserves a look.
    """

    dry_run: bool = False
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    deleted: int = 0
    invalid: int = 0
    pruned: int = 0
    planned: list[PlannedChange] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Users listed but not written, for any reason."""
        return self.stale + self.deleted + self.invalid

    @property
    def written(self) -> int:
        """Rows changed (or that would change, in a dry run)."""
        return self.created + self.updated + self.pruned


_WRITES: Mapping[str, PlannedAction] = {"created": "created", "updated": "updated"}

#: ``progress(report)`` after each listed user, for progress bars; it runs on the event loop, so keep it short.
Progress = Callable[[BackfillReport], None]


async def backfill(
    api: BackendAPI,
    store: AsyncSQLAlchemyStore[Any],
    *,
    dry_run: bool = False,
    prune: bool = False,
    page_size: int = MAX_PAGE_SIZE,
    include_private_metadata: bool = False,
    progress: Progress | None = None,
) -> BackfillReport:
    """Sync every user the Backend API lists; with ``prune``, tombstone local users Clerk confirms are gone.

    Each user commits on its own: an interrupted run keeps what it did, and a re-run resumes for free because
    unchanged users cost one read. Raises ``BackendAPIError`` when Clerk stays unreachable through the client's
    retries, ``DatabaseUnavailableError`` when the database does.
    """
    report = BackfillReport(dry_run=dry_run)
    # Taken before the first page: a row created after this instant may belong to a sign-up the listing missed.
    started = datetime.now(UTC)
    seen: set[str] = set()
    async for page in api.iter_user_pages(page_size):
        for user in page:
            await _one(store, user, report, seen, dry_run, include_private_metadata)
            if progress is not None:
                progress(report)
    if prune:
        await _prune(api, store, report, seen, started, dry_run)
    return report


async def _one(
    store: AsyncSQLAlchemyStore[Any],
    user: Mapping[str, Any],
    report: BackfillReport,
    seen: set[str],
    dry_run: bool,
    include_private_metadata: bool,
) -> None:
    report.seen += 1
    seen.add(user["id"])  # even when unreadable: Clerk has the user, so prune must spare the row
    try:
        profile = profile_from_user_json(
            user, source=Source.BACKFILL, include_private_metadata=include_private_metadata
        )
    except ValueError:
        report.invalid += 1  # one bad object must not stop thousands of good ones
        return
    if dry_run:
        action, columns = await _plan(store, profile)
    else:
        try:
            action = (await store.sync(profile, raise_if_deleted=False)).action
        except BackendAPIError:  # a value the row cannot hold (``profile.refusal``); nothing was written
            report.invalid += 1
            return
        columns = ()
    if action == "created":
        report.created += 1
    elif action == "updated":
        report.updated += 1
    elif action == "unchanged":
        report.unchanged += 1
    elif action == "stale":
        report.stale += 1
    else:
        report.deleted += 1
    if dry_run and action in _WRITES:
        report.planned.append(PlannedChange(profile.clerk_id, _WRITES[action], columns))


async def _plan(store: AsyncSQLAlchemyStore[Any], profile: UserProfile) -> tuple[Action, tuple[str, ...]]:
    """The store's own verdict (``plan``), plus the columns a write would change.

    The verdict comes from the store so a dry run can never disagree with the real run; only an ``updated``
    verdict costs a second read, to name its columns.
    """
    action = await store.plan(profile)
    values = carried_values(profile.fields, frozenset(sa_inspect(store.model).columns.keys()))
    if action == "created":
        return action, created_changes(values)
    if action != "updated":
        return action, ()
    model = store.model
    async with store.sessionmaker() as session, unavailable_on_failure(session):
        row = (await session.execute(select(model).where(model.clerk_id == profile.clerk_id))).scalar_one()
    return action, changed_columns(lambda key: getattr(row, key), values)


async def _prune(
    api: BackendAPI,
    store: AsyncSQLAlchemyStore[Any],
    report: BackfillReport,
    seen: set[str],
    started: datetime,
    dry_run: bool,
) -> None:
    model = store.model
    async with store.sessionmaker() as session, unavailable_on_failure(session):
        local = (
            await session.execute(
                select(model.clerk_id)
                .where(model.deleted_at.is_(None), model.created_at < started)
                .order_by(model.clerk_id)
            )
        ).scalars()
        candidates = [clerk_id for clerk_id in local if clerk_id not in seen]
    for clerk_id in candidates:
        if await api.get_user(clerk_id) is not None:
            continue  # paging missed it (a deletion shifted the offsets); Clerk still has the user
        report.pruned += 1
        if dry_run:
            report.planned.append(PlannedChange(clerk_id, "pruned", ("deleted_at",)))
            continue
        # Now as the version: newer than any write Clerk made before answering 404, so the tombstone holds.
        await store.delete(UserDeletion(clerk_id, int(time.time() * 1000), Source.BACKFILL))
