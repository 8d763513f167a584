"""The user store port: what the core asks of storage, and the sync rules every implementation shares.

The rules that keep the table right live here once, in plain Python, so the SQLAlchemy stores (async and sync)
and the Django ORM store cannot drift apart:

- **Versions order writes**: a profile older than the stored row's version never overwrites it (``verdict``).
- **Tombstones are final**: a deleted row is never written again by a profile (``verdict`` says ``deleted``).
- **Absent claims keep data**: a profile carries only the columns its source knows; ``carried_values`` turns
  an explicit ``None`` into the column's "cleared" value and never invents the others.
- **Steady state writes nothing**: ``verdict`` answers ``unchanged`` when every carried value already matches.
- **A row from ``sub`` alone claims no version** (``write_version``), so the first-sight Backend API fetch,
  whose ``updated_at`` is older than the token's ``iat``, still fills it.

A store still re-checks the rules in its database (the guarded ``INSERT ... ON CONFLICT``): the read that
``verdict`` judges is an optimisation, never what keeps concurrent writers correct.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Generic, Literal, Protocol, TypeVar

from clerk_sync.errors import ConfigurationError
from clerk_sync.metrics import USERS_WRITTEN
from clerk_sync.profile import Source, UserDeletion, UserProfile

__all__ = [
    "DECLARED_LENGTHS",
    "ENGINE_COLUMNS",
    "VERDICT_COLUMNS",
    "Action",
    "AsyncSyncHook",
    "AsyncUserStore",
    "StoredUser",
    "SyncHook",
    "SyncResult",
    "UserStore",
    "WebhookOutcome",
    "WriteAudit",
    "carried_values",
    "changed_columns",
    "created_changes",
    "verdict",
    "write_version",
]

#: ``created``/``updated``: this call wrote the row. ``unchanged``: nothing to write (for ``delete``: already a
#: tombstone). ``stale``: the row holds a newer version. ``deleted``: the user is (now) a tombstone.
Action = Literal["created", "updated", "unchanged", "stale", "deleted"]
#: What ``apply_webhook`` did: an ``Action``, or ``duplicate`` when the Svix message was already applied.
WebhookOutcome = Literal["created", "updated", "unchanged", "stale", "deleted", "duplicate"]

#: Columns a store writes itself; a profile may never carry them.
ENGINE_COLUMNS = frozenset({"id", "clerk_id", "created_at", "updated_at", "deleted_at", "clerk_version"})

#: The most characters a synced ``Text`` column accepts (a ``String(n)`` column's own ``n`` wins). ``Text`` has
#: no limit of its own, yet no real value comes near these: an address is at most 320 characters (RFC 5321:
#: 64 + 1 + 255), Clerk caps names at 256, an image URL is a few hundred. They are declared here rather than in
#: the schemas (SQLAlchemy's and Django's), so the tables (and their migrations) stay as they are.
DECLARED_LENGTHS: Mapping[str, int] = MappingProxyType(
    {"email": 320, "first_name": 1024, "last_name": 1024, "image_url": 4096}
)

#: Besides the profile's own columns, what ``verdict`` reads.
VERDICT_COLUMNS = frozenset({"deleted_at", "clerk_version"})

# A profile's ``None`` means "cleared"; for a NOT NULL column, cleared has a value of its own.
_CLEARED: Mapping[str, Callable[[], Any]] = {"public_metadata": dict}


class StoredUser(Protocol):
    """What the core reads of any store's user object (an ORM instance of the app's model)."""

    #: The Clerk user id. Typed ``Any``: an ORM declares it as a descriptor (SQLAlchemy's ``Mapped[str]``, a
    #: Django field), which a ``str`` property in a protocol would not match.
    clerk_id: Any


U = TypeVar("U", bound=StoredUser)


@dataclass(frozen=True, slots=True)
class SyncResult(Generic[U]):
    """The user row and what this call did to it; ``changed`` names the columns written."""

    user: U
    action: Action
    source: Source
    changed: tuple[str, ...] = ()


#: Called after the write committed; a failing hook is logged, never undoes or fails the sync.
SyncHook = Callable[[SyncResult[Any]], None]
AsyncSyncHook = Callable[[SyncResult[Any]], Awaitable[None]]


class UserStore(Protocol[U]):
    """Synchronous storage (WSGI apps, Flask, Django, the CLI): each call runs and commits its own transaction.

    Every method raises ``DatabaseUnavailableError`` (never a driver error) when the database cannot be reached,
    and the source's refusal (``clerk_sync.profile.refusal``) for a value the columns cannot hold.
    """

    def read(self, profile: UserProfile) -> SyncResult[U] | None:
        """The steady state: the stored row when it already reflects ``profile`` (``unchanged`` or ``stale``),
        one indexed read and no write. None when ``sync`` has work to do. ``UserDeletedError`` for a tombstone."""
        ...

    def sync(self, profile: UserProfile, *, raise_if_deleted: bool = True) -> SyncResult[U]:
        """Create on first sight, update what changed, else only read; ``UserDeletedError`` for a tombstone
        unless ``raise_if_deleted=False`` (then the action is ``deleted``)."""
        ...

    def delete(self, deletion: UserDeletion) -> SyncResult[U]:
        """Tombstone the user, creating the tombstone if never seen; idempotent, never a hard delete."""
        ...

    def apply_webhook(self, svix_id: str, event_type: str, change: UserProfile | UserDeletion) -> WebhookOutcome:
        """Apply one Svix message exactly once: its ledger row and its effect commit in one transaction."""
        ...

    def plan(self, profile: UserProfile) -> Action:
        """What ``sync`` would do now, without writing (dry runs)."""
        ...

    def last_webhook_at(self) -> datetime | None:
        """When the latest webhook was applied (None: never); also the readiness probe, so it raises
        ``DatabaseUnavailableError`` when the database does not answer."""
        ...

    def close(self) -> None:
        """Release connections this store opened (never an engine the app passed in)."""
        ...


class AsyncUserStore(Protocol[U]):
    """``UserStore`` for event loops (ASGI apps): the same methods, awaited."""

    async def read(self, profile: UserProfile) -> SyncResult[U] | None: ...

    async def sync(self, profile: UserProfile, *, raise_if_deleted: bool = True) -> SyncResult[U]: ...

    async def delete(self, deletion: UserDeletion) -> SyncResult[U]: ...

    async def apply_webhook(
        self, svix_id: str, event_type: str, change: UserProfile | UserDeletion
    ) -> WebhookOutcome: ...

    async def plan(self, profile: UserProfile) -> Action: ...

    async def last_webhook_at(self) -> datetime | None: ...

    async def close(self) -> None: ...


def carried_values(fields: Mapping[str, Any], columns: Mapping[str, object] | frozenset[str]) -> dict[str, Any]:
    """A profile's fields as the values to write, with the "cleared" value of NOT NULL columns applied.

    ``columns`` names the model's syncable columns. A mapping that names a column the model lacks (or one the
    store owns) is a configuration mistake; failing loudly beats silently dropping the data.
    """
    values: dict[str, Any] = {}
    for key, value in fields.items():
        if key in ENGINE_COLUMNS or key not in columns:
            raise ConfigurationError(f"claim mapping: the user model has no syncable column {key!r}")
        values[key] = _CLEARED[key]() if value is None and key in _CLEARED else value
    return values


def verdict(stored: Callable[[str], Any], version: int, values: Mapping[str, Any]) -> Action | None:
    """Why no write is needed for the stored row (``stored(key)`` reads a column), or None to write ``values``."""
    if stored("deleted_at") is not None:
        return "deleted"
    if all(stored(key) == value for key, value in values.items()):
        return "unchanged"
    stored_version = stored("clerk_version")
    if stored_version is not None and stored_version > version:
        return "stale"
    return None


def changed_columns(stored: Callable[[str], Any] | None, values: Mapping[str, Any]) -> tuple[str, ...]:
    """The carried columns whose value differs from the stored row's (all of them for a new row)."""
    return tuple(key for key in values if stored is None or stored(key) != values[key])


def write_version(profile: UserProfile, values: Mapping[str, Any]) -> int | None:
    """The version a write records: none for a row created from ``sub`` alone.

    Such a row holds no data, so it must not claim a version: otherwise the token's ``iat`` would outrank the
    Backend API's (older) ``updated_at`` and block the first-sight fetch.
    """
    return profile.version if values else None


def created_changes(values: Mapping[str, Any]) -> tuple[str, ...]:
    """What a creation reports as written: its columns, or ``clerk_id`` for a row from ``sub`` alone (still a
    write to audit)."""
    return tuple(values) or ("clerk_id",)


class WriteAudit:
    """One audit record per write (no values, only column names) and the app's hooks, for every store.

    Reads (unchanged, stale, refused) leave no trace. A failing hook is logged and never fails the sync: the
    write has committed by then.
    """

    def __init__(
        self,
        hooks: Mapping[Action, Callable[[SyncResult[Any]], Any] | None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.hooks = {action: hook for action, hook in (hooks or {}).items() if hook is not None}
        self._audit = logger if logger is not None else logging.getLogger("clerk_sync.audit")
        self._log = logging.getLogger("clerk_sync.store")

    def record(self, result: SyncResult[Any]) -> Callable[[SyncResult[Any]], Any] | None:
        """Audit ``result`` when it wrote; returns the hook to run for it (the caller awaits it if async)."""
        if not result.changed:
            return None
        USERS_WRITTEN.labels(result.action, str(result.source)).inc()
        self._audit.info(
            "user %s",
            result.action,
            extra={
                "action": result.action,
                "source": str(result.source),
                "clerk_id": result.user.clerk_id,
                "changed": list(result.changed),
            },
        )
        return self.hooks.get(result.action)

    def after(self, result: SyncResult[Any]) -> None:
        """Audit and run a synchronous hook."""
        hook = self.record(result)
        if hook is None:
            return
        try:
            hook(result)
        except Exception:
            self._log.exception("on_user_%s hook failed for %s", result.action, result.user.clerk_id)

    async def after_async(self, result: SyncResult[Any]) -> None:
        """Audit and run a hook that may be a coroutine function."""
        hook = self.record(result)
        if hook is None:
            return
        try:
            outcome = hook(result)
            if isinstance(outcome, Awaitable):
                await outcome
        except Exception:
            self._log.exception("on_user_%s hook failed for %s", result.action, result.user.clerk_id)
