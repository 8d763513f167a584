"""Backfill and reconcile: bring every Clerk user into the table through the same engine as requests.

Users who signed up before the app existed never made a request, and webhooks may have been missed while the
endpoint was down. The backfill pages through the Backend API and syncs each user with source ``backfill``, so
versions still decide: a re-run writes nothing, a stale page never overwrites a fresher row, and a tombstone is
never resurrected. ``prune`` tombstones local users Clerk no longer has, but only after Clerk confirms each one
with a 404: offset paging can miss a user, a confirmed 404 cannot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clerk_sync.backend_api import MAX_PAGE_SIZE, BackendAPI
from clerk_sync.db import UserSync
from clerk_sync.profile import Source
from clerk_sync.users_json import profile_from_user_json

__all__ = ["BackfillReport", "PlannedChange", "backfill"]


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One row a dry run would write: ``action`` is created, updated or pruned."""

    clerk_id: str
    action: str


@dataclass(slots=True)
class BackfillReport:
    """Counts of one run; ``planned`` lists the writes a dry run would have made."""

    dry_run: bool = False
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    pruned: int = 0
    planned: list[PlannedChange] = field(default_factory=list)

    @property
    def written(self) -> int:
        """Rows changed (or that would change, in a dry run)."""
        return self.created + self.updated + self.pruned


#: ``progress(report)`` after each user, for progress bars.
Progress = Callable[[BackfillReport], None]


async def backfill(
    api: BackendAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    users: UserSync[Any],
    *,
    dry_run: bool = False,
    prune: bool = False,
    page_size: int = MAX_PAGE_SIZE,
    include_private_metadata: bool = False,
    progress: Progress | None = None,
) -> BackfillReport:
    """Sync every user the Backend API lists; with ``prune``, tombstone local users Clerk confirms are gone."""
    report = BackfillReport(dry_run=dry_run)
    started = datetime.now(UTC)
    seen: set[str] = set()
    async for page in api.iter_user_pages(page_size):
        async with sessionmaker() as session:
            for user in page:
                await _one(session, users, user, report, seen, dry_run, include_private_metadata)
                if progress is not None:
                    progress(report)
    if prune:
        await _prune(api, sessionmaker, users, report, seen, started, dry_run)
    return report


async def _one(
    session: AsyncSession,
    users: UserSync[Any],
    user: Any,
    report: BackfillReport,
    seen: set[str],
    dry_run: bool,
    include_private_metadata: bool,
) -> None:
    report.seen += 1
    try:
        profile = profile_from_user_json(
            user, source=Source.BACKFILL, include_private_metadata=include_private_metadata
        )
    except ValueError:
        report.skipped += 1  # a user object we cannot read; the rest of the run goes on
        return
    seen.add(profile.clerk_id)
    if dry_run:
        action = await users.plan(session, profile)
        await session.rollback()  # release the read transaction (SQLite holds a snapshot otherwise)
    else:
        action = (await users.sync(session, profile, raise_if_deleted=False)).action
    if action == "created":
        report.created += 1
    elif action == "updated":
        report.updated += 1
    elif action == "unchanged":
        report.unchanged += 1
    else:  # stale (the row is fresher) or deleted (a tombstone is never resurrected)
        report.skipped += 1
    if dry_run and action in ("created", "updated"):
        report.planned.append(PlannedChange(profile.clerk_id, action))


async def _prune(
    api: BackendAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    users: UserSync[Any],
    report: BackfillReport,
    seen: set[str],
    started: datetime,
    dry_run: bool,
) -> None:
    model = users.model
    async with sessionmaker() as session:
        local = (
            await session.execute(select(model.clerk_id).where(model.deleted_at.is_(None), model.created_at < started))
        ).scalars()
        candidates = [clerk_id for clerk_id in local if clerk_id not in seen]
    for clerk_id in candidates:
        if await api.get_user(clerk_id) is not None:
            continue  # paging missed it; Clerk still has the user
        report.pruned += 1
        if dry_run:
            report.planned.append(PlannedChange(clerk_id, "pruned"))
            continue
        async with sessionmaker() as session:
            await users.delete(session, clerk_id, int(time.time() * 1000), Source.BACKFILL)
