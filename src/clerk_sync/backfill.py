"""Backfill and reconcile: bring every Clerk user into the table through the same store as requests.

Users who signed up before the app existed never made a request, and webhooks may have been missed while the
endpoint was down. The backfill pages through the Backend API and syncs each user with source ``backfill``, so
versions still decide: a re-run writes nothing, a stale page never overwrites a fresher row, and a tombstone is
never resurrected. ``prune`` tombstones local users Clerk no longer has, but only after Clerk confirms each one
with a 404: a user missing from the listing is only a candidate, a confirmed 404 is proof.

Pages are walked by ``created_at`` value (``BackendAPI.iter_keyed_user_pages``), so users created or deleted
in Clerk while the run goes on never make it skip anyone. After each finished page the walk's key is written
to ``clerk_backfill_checkpoints``; ``resume=True`` starts after it, and a finished run deletes it. Requests
are paced (``RequestPacer``) to a share of Clerk's per-key rate limit, which the live app shares.

Each page is written in one transaction (``BackfillStore.sync_page``): a run commits once per page, and a user
whose values the row cannot hold is counted ``invalid`` and listed in ``failed`` without costing the page's
other users their write. This module knows no web framework, no database library and no terminal: it runs on
any ``BackfillStore`` (``AsyncSQLAlchemyStore``, ``AsyncDjangoUserStore``); the CLI and ``manage.py
clerk_backfill`` add the progress bar and the summary.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from clerk_sync.backend_api import MAX_PAGE_SIZE, BackendAPI, PageKey
from clerk_sync.backfill_store import BackfillStore, Checkpoint, PageOutcome, Plan
from clerk_sync.errors import ClerkSyncError
from clerk_sync.mapping import profile_from_user_json
from clerk_sync.profile import Source, UserDeletion, UserProfile

__all__ = [
    "DEFAULT_RATE_SHARE",
    "WALK",
    "BackfillReport",
    "BackfillStore",
    "FailedUser",
    "PlannedAction",
    "PlannedChange",
    "Progress",
    "RequestPacer",
    "backfill",
    "rate_limit_for",
]

#: The share of Clerk's per-key rate limit a backfill spends by default: the live app keeps the other 80%.
DEFAULT_RATE_SHARE = 0.2

#: Clerk's Backend API limit per secret key, in requests per 10 s (clerk.com/docs, "Rate limits", and the
#: ``/v1/users`` description of bapi/2026-05-12.yml): production keys (``sk_live_``) 1000, development 100.
_LIMIT_PER_10S = {"live": 1000, "test": 100}

#: The checkpoint row of the one walk a backfill makes.
WALK = "users"


def rate_limit_for(secret_key: str) -> float:
    """Clerk's request limit for this key, per second: production for ``sk_live_``, development otherwise.

    An unrecognised key gets the development limit: guessing low costs time, guessing high costs the live
    app its 429s.
    """
    kind = "live" if secret_key.strip().startswith("sk_live_") else "test"
    return _LIMIT_PER_10S[kind] / 10.0


class RequestPacer:
    """Spaces requests evenly at ``rate`` per second: ``await pacer.wait()`` before each one.

    Even spacing rather than a burst bucket: the limit is a 10 s window shared with the live app, and a
    backfill that bursts at the start of each window starves the app's requests in it. ``clock`` and
    ``sleep`` are injectable so tests check the pacing without waiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not rate > 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    @classmethod
    def for_key(cls, secret_key: str, share: float = DEFAULT_RATE_SHARE, **kwargs: Any) -> RequestPacer:
        """A pacer spending ``share`` (0 < share <= 1) of the key's Clerk rate limit."""
        if not 0 < share <= 1:
            raise ValueError("the rate share must be above 0 and at most 1")
        return cls(rate_limit_for(secret_key) * share, **kwargs)

    async def wait(self) -> None:
        """Return when the next request may go."""
        now = self._clock()
        if self._next is not None and self._next > now:
            await self._sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


#: The writes a run can make: a new row, a changed row, a tombstone for a user Clerk no longer has.
PlannedAction = Literal["created", "updated", "pruned"]


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One row a dry run would write, with the columns it would change, so the operator can judge the run."""

    clerk_id: str
    action: PlannedAction
    columns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FailedUser:
    """A listed user the run could not write, and why (the reason names a field, never its value)."""

    clerk_id: str
    reason: str


@dataclass(slots=True)
class BackfillReport:
    """Counts of one run; ``planned`` lists the writes a dry run would have made (empty for a real run).

    Skips are split by reason because they call for different reactions: ``stale`` (the row holds a newer
    version, e.g. from a token seen meanwhile) and ``deleted`` (a tombstone is never resurrected) are the
    engine working as intended; ``invalid`` (a user object that cannot be read, or a value the row cannot hold)
    deserves a look, so each one is also listed in ``failed`` with its reason.
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
    pages: int = 0
    resumed: bool = False
    interrupted: bool = False
    planned: list[PlannedChange] = field(default_factory=list)
    failed: list[FailedUser] = field(default_factory=list)

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
    store: BackfillStore,
    *,
    dry_run: bool = False,
    prune: bool = False,
    page_size: int = MAX_PAGE_SIZE,
    include_private_metadata: bool = False,
    progress: Progress | None = None,
    resume: bool = False,
    pacer: RequestPacer | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BackfillReport:
    """Sync every user the Backend API lists; with ``prune``, tombstone local users Clerk confirms are gone.

    Each page commits as one transaction and then records a checkpoint (not in a dry run), so an interrupted
    run keeps every finished page and ``resume=True`` continues after the last one; without a checkpoint
    ``resume`` starts from the beginning. ``should_stop()`` is asked after every page: when it says yes the
    run ends there with ``interrupted`` set and the checkpoint kept (and no prune, which needs the whole
    listing). ``pacer`` spaces every Backend API request. Raises ``BackendAPIError`` when Clerk stays
    unreachable through the client's retries, ``DatabaseUnavailableError`` when the database does (the page
    being written is then not checkpointed: a resume writes it again, which versions make harmless).
    """
    report = BackfillReport(dry_run=dry_run)
    # Taken before the first page: a row created after this instant may belong to a sign-up the listing missed.
    started = datetime.now(UTC)
    seen: set[str] = set()
    after = await store.load_checkpoint(WALK) if resume else None
    report.resumed = after is not None
    start = None if after is None else PageKey(after.last_created_at, after.last_ids)
    pages = api.iter_keyed_user_pages(page_size, after=start)
    while True:
        if pacer is not None:
            await pacer.wait()
        try:
            page, key = await anext(pages)
        except StopAsyncIteration:
            break
        await _page(store, page, report, seen, dry_run, include_private_metadata, progress)
        report.pages += 1
        if not dry_run:
            checkpoint = Checkpoint(key.created_at, key.ids, report.pages, report.seen)
            await store.save_checkpoint(WALK, checkpoint)
        if should_stop is not None and should_stop():
            await pages.aclose()
            report.interrupted = True
            return report
    if prune:
        await _prune(api, store, report, seen, started, dry_run, pacer)
    if not dry_run:
        await store.clear_checkpoint(WALK)
    return report


async def _page(
    store: BackfillStore,
    page: Sequence[Mapping[str, Any]],
    report: BackfillReport,
    seen: set[str],
    dry_run: bool,
    include_private_metadata: bool,
    progress: Progress | None,
) -> None:
    """Read the page's user objects, write (or plan) the readable ones in one call, count every user."""
    profiles: list[UserProfile | None] = []
    for user in page:
        seen.add(user["id"])  # even when unreadable: Clerk has the user, so prune must spare the row
        try:
            profiles.append(
                profile_from_user_json(user, source=Source.BACKFILL, include_private_metadata=include_private_metadata)
            )
        except ValueError:
            profiles.append(None)  # one bad object must not stop thousands of good ones
    readable = [profile for profile in profiles if profile is not None]
    done: list[Plan] | list[PageOutcome] = (
        await store.plan_page(readable) if dry_run else await store.sync_page(readable)
    )
    outcomes = iter(done)
    for user, profile in zip(page, profiles, strict=True):
        report.seen += 1
        if profile is None:
            report.invalid += 1
            report.failed.append(FailedUser(str(user["id"]), "the user object cannot be read"))
        else:
            _count(report, profile, next(outcomes))
        if progress is not None:
            progress(report)


def _count(report: BackfillReport, profile: UserProfile, outcome: Plan | PageOutcome) -> None:
    if isinstance(outcome, ClerkSyncError):  # a value the row cannot hold (``profile.refusal``); nothing written
        report.invalid += 1
        report.failed.append(FailedUser(profile.clerk_id, outcome.message))
        return
    action, columns = outcome if isinstance(outcome, tuple) else (outcome.action, ())
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
    if report.dry_run and action in _WRITES:
        report.planned.append(PlannedChange(profile.clerk_id, _WRITES[action], columns))


async def _prune(
    api: BackendAPI,
    store: BackfillStore,
    report: BackfillReport,
    seen: set[str],
    started: datetime,
    dry_run: bool,
    pacer: RequestPacer | None,
) -> None:
    candidates = [clerk_id for clerk_id in await store.prune_candidates(started) if clerk_id not in seen]
    for clerk_id in candidates:
        if pacer is not None:
            await pacer.wait()
        if await api.get_user(clerk_id) is not None:
            continue  # not listed this run (e.g. read before a resume, or created meanwhile); Clerk has the user
        report.pruned += 1
        if dry_run:
            report.planned.append(PlannedChange(clerk_id, "pruned", ("deleted_at",)))
            continue
        # Now as the version: newer than any write Clerk made before answering 404, so the tombstone holds.
        await store.delete(UserDeletion(clerk_id, int(time.time() * 1000), Source.BACKFILL))
