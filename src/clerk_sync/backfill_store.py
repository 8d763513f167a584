"""What a backfill asks of storage, beyond the user store: page-sized writes, dry-run plans and a checkpoint.

``clerk_sync.backfill`` is written against this port only, so it runs on any store that implements it (the
SQLAlchemy async store, the Django ORM stores). The rules a page write obeys are the user store's own
(``clerk_sync.store``): versions order writes, tombstones are never resurrected, absent claims keep data. What
the port adds is the unit of work: a whole page in ONE transaction, so a run commits once per page instead of
once per user, while each user still gets its own outcome (a refused value fails that user, never the page).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from clerk_sync.errors import ClerkSyncError
from clerk_sync.profile import UserDeletion, UserProfile
from clerk_sync.store import Action, SyncResult, changed_columns, created_changes, verdict

__all__ = ["BackfillStore", "Checkpoint", "PageOutcome", "Plan", "plan_for"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where an unfinished walk stands: the newest ``created_at`` (Clerk's ms) read, the ids read in that
    millisecond, and the running totals, so a resumed run requests no finished page again."""

    last_created_at: int
    last_ids: frozenset[str]
    pages: int = 0
    users: int = 0


#: One profile's outcome in a page write: what the store did, or the refusal that kept it (alone) out.
PageOutcome = SyncResult[Any] | ClerkSyncError

#: What a dry run would do for one profile: the store's verdict and the columns a write would change.
Plan = tuple[Action, tuple[str, ...]]


class BackfillStore(Protocol):
    """The storage of a backfill. Every method raises ``DatabaseUnavailableError`` when the database cannot be
    reached; nothing else escapes for a single user's data."""

    async def sync_page(self, profiles: Sequence[UserProfile]) -> list[PageOutcome]:
        """``sync(profile, raise_if_deleted=False)`` for each profile, all in one transaction, outcomes in order.

        A value the row cannot hold (or the database refuses) is that profile's outcome, its refusal, and
        nothing is written for it; the others are written all the same. Audit records and hooks run once the
        page has committed.
        """
        ...

    async def plan_page(self, profiles: Sequence[UserProfile]) -> list[Plan]:
        """What ``sync_page`` would do now, without writing (dry runs), in order."""
        ...

    async def prune_candidates(self, created_before: datetime) -> list[str]:
        """Clerk ids of live (not tombstoned) rows created before ``created_before``, in id order."""
        ...

    async def delete(self, deletion: UserDeletion) -> SyncResult[Any]:
        """Tombstone the user (``UserStore.delete``)."""
        ...

    async def load_checkpoint(self, walk: str) -> Checkpoint | None:
        """The walk's checkpoint, None when no unfinished run left one."""
        ...

    async def save_checkpoint(self, walk: str, checkpoint: Checkpoint) -> None:
        """Record ``checkpoint`` for the walk (insert or overwrite), committed."""
        ...

    async def clear_checkpoint(self, walk: str) -> None:
        """Forget the walk's checkpoint (a finished run)."""
        ...


def plan_for(stored: Callable[[str], Any] | None, version: int, values: Mapping[str, Any]) -> Plan:
    """A dry run's answer for one profile, from the stored row (``stored(key)`` reads a column; None: no row).

    The same ``verdict`` ``sync`` applies, so a dry run can never disagree with the real run.
    """
    if stored is None:
        return "created", created_changes(values)
    action = verdict(stored, version, values)
    if action is not None:
        return action, ()
    return "updated", changed_columns(stored, values)
