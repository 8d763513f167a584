"""The sync engine: keep one local row per Clerk user current, from tokens, webhooks and backfills alike.

Steady state is one indexed read and no write: a request whose profile matches the row (or is older than it)
returns without a statement beyond the ``SELECT``. Only a miss or a change runs the upsert, whose guard re-checks
every rule in the database, so the read is an optimisation, never the thing that keeps data correct.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Generic, Literal, TypeVar, overload

from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached

from clerk_sync.db.engine import READER_KEY
from clerk_sync.db.failures import unavailable_on_failure
from clerk_sync.db.limits import ColumnLimits
from clerk_sync.db.mixin import ClerkUserMixin, utcnow
from clerk_sync.db.models import User
from clerk_sync.db.reader import UserReader
from clerk_sync.db.upsert import carried_values, tombstone_statement, upsert_statement
from clerk_sync.db.webhook_log import last_webhook_at, record_webhook
from clerk_sync.errors import ClerkSyncError, UserDeletedError
from clerk_sync.metrics import USERS_WRITTEN
from clerk_sync.profile import Source, UserDeletion, UserProfile, refusal

__all__ = ["Action", "SyncHook", "SyncResult", "UserDeletion", "UserSync", "WebhookOutcome"]

M = TypeVar("M", bound=ClerkUserMixin)

#: ``created``/``updated``: this call wrote the row. ``unchanged``: nothing to write (for ``delete``: already a
#: tombstone). ``stale``: the row holds a newer version. ``deleted``: the user is (now) a tombstone.
Action = Literal["created", "updated", "unchanged", "stale", "deleted"]
#: What ``apply_webhook`` did: an ``Action``, or ``duplicate`` when the Svix message was already applied.
WebhookOutcome = Literal["created", "updated", "unchanged", "stale", "deleted", "duplicate"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SyncResult(Generic[M]):
    """The user row (bound to the caller's session) and what this call did to it; ``changed`` names columns."""

    user: M
    action: Action
    source: Source
    changed: tuple[str, ...] = ()


#: Called after the write committed; a failing hook is logged, never undoes or fails the sync.
SyncHook = Callable[[SyncResult[M]], Awaitable[None]]


class UserSync(Generic[M]):
    """Applies versioned profiles and deletions to the app's user model (the default ``User`` if none given).

    Framework-free and stateless apart from its configuration: build one at start, share it. Each method takes
    the caller's ``AsyncSession``, commits the transaction it wrote in, and raises ``DatabaseUnavailableError``
    (never a driver error) when the database cannot be reached.

    A value the model's columns cannot hold (``clerk_sync.db.limits``), or one the database refuses, is refused
    before anything is written, with the error of the profile's source (``clerk_sync.profile.refusal``): a
    token's claim is a ``TokenClaimInvalidError``, a webhook's field a ``WebhookFieldInvalidError``, a Backend
    API answer a ``BackendAPIError``. Token profiles are checked only when they are about to be written, so the
    steady state (nothing to write) costs no check at all; webhooks are checked before their ledger row.
    """

    @overload
    def __init__(
        self: UserSync[User],
        model: None = None,
        *,
        on_user_created: SyncHook[User] | None = None,
        on_user_updated: SyncHook[User] | None = None,
        on_user_deleted: SyncHook[User] | None = None,
        logger: logging.Logger | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        model: type[M],
        *,
        on_user_created: SyncHook[M] | None = None,
        on_user_updated: SyncHook[M] | None = None,
        on_user_deleted: SyncHook[M] | None = None,
        logger: logging.Logger | None = None,
    ) -> None: ...

    def __init__(
        self,
        model: type[Any] | None = None,
        *,
        on_user_created: SyncHook[Any] | None = None,
        on_user_updated: SyncHook[Any] | None = None,
        on_user_deleted: SyncHook[Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        """``logger`` receives the audit trail (default ``clerk_sync.audit``): one record per write, no values."""
        resolved: type[Any] = User if model is None else model  # the overloads tie M to User for None
        self.model: type[M] = resolved
        self._hooks: Mapping[Action, SyncHook[Any] | None] = {
            "created": on_user_created,
            "updated": on_user_updated,
            "deleted": on_user_deleted,
        }
        self._audit = logger if logger is not None else logging.getLogger("clerk_sync.audit")
        # Built once: composing the expression costs more than running the cached statement (profiled).
        self._by_clerk_id = select(resolved).where(resolved.clerk_id == bindparam("clerk_id"))
        self._class_manager = sa_inspect(resolved).class_manager
        self._limits: dict[str, ColumnLimits] = {}  # by dialect name, built on the first write

    async def read(self, reader: UserReader, profile: UserProfile) -> SyncResult[M] | None:
        """The steady state without a session: the stored row, when it already reflects ``profile``.

        None when ``sync`` has work to do (first sight, changed data) or the reader cannot answer right now.
        Raises ``UserDeletedError`` for a tombstone, as ``sync`` does. The user comes back detached, as loaded;
        ``session.add(user)`` binds it to a session without a query.
        """
        try:
            row = await reader.fetch(profile.clerk_id)
        except LookupError:
            return None
        if row is None:
            return None
        values = carried_values(self.model, profile.fields)
        if not row.keys() >= values.keys() | _VERDICT_COLUMNS:  # a column the reader does not load (deferred)
            return None
        verdict = _verdict(row.__getitem__, profile.version, values)
        if verdict is None:
            return None
        if verdict == "deleted":
            raise UserDeletedError()
        user: M = self._class_manager.new_instance()
        user.__dict__.update(row)  # as the ORM's loader fills an instance: no attribute events, no history
        make_transient_to_detached(user)
        return SyncResult(user, verdict, profile.source)

    async def sync(
        self, session: AsyncSession, profile: UserProfile, *, raise_if_deleted: bool = True
    ) -> SyncResult[M]:
        """Make the row reflect ``profile``: create on first sight, update what changed, else only read.

        Raises ``UserDeletedError`` for a tombstoned user (the request path answers 401 ``user-deleted``);
        with ``raise_if_deleted=False`` the result's action is ``deleted`` instead.
        """
        async with unavailable_on_failure(session, partial(_refused, profile.source)):
            result, wrote = await self._sync(session, profile, utcnow())
            if wrote:  # even a rejected upsert holds SQLite's write lock until the transaction ends
                await session.commit()
        if result.action == "deleted" and raise_if_deleted:
            raise UserDeletedError()
        await self._after(result)
        return result

    async def delete(
        self, session: AsyncSession, clerk_id: str, version: int, source: Source = Source.WEBHOOK
    ) -> SyncResult[M]:
        """Tombstone the user (creating the tombstone if never seen); idempotent, never a hard delete."""
        deletion = UserDeletion(clerk_id, version, source)
        self.limits(session).check_deletion(deletion)
        async with unavailable_on_failure(session, partial(_refused, source)):
            result = await self._delete(session, deletion, utcnow())
            await session.commit()
        await self._after(result)
        return result

    async def apply_webhook(
        self, session: AsyncSession, *, svix_id: str, event_type: str, change: UserProfile | UserDeletion
    ) -> WebhookOutcome:
        """Apply one Svix message exactly once: its ledger row and its effect commit in one transaction.

        Everything is checked before the ledger row: a refused event leaves no trace, so it is not "applied".
        """
        limits = self.limits(session)
        limits.check_webhook(svix_id, event_type)
        if isinstance(change, UserDeletion):
            limits.check_deletion(change)
        else:
            limits.check_profile(change, carried_values(self.model, change.fields))
        now = utcnow()
        async with unavailable_on_failure(session, partial(_refused, change.source)):
            if not await record_webhook(session, svix_id=svix_id, event_type=event_type, now=now):
                await session.rollback()
                return "duplicate"
            if isinstance(change, UserDeletion):
                result = await self._delete(session, change, now)
            else:
                result, _ = await self._sync(session, change, now, checked=True)
            await session.commit()
        await self._after(result)
        return result.action

    async def plan(self, session: AsyncSession, profile: UserProfile) -> Action:
        """What ``sync`` would do with ``profile`` now, without writing (for dry runs): one indexed read."""
        values = carried_values(self.model, profile.fields)
        async with unavailable_on_failure(session):
            user = await self._load(session, profile.clerk_id, fast=True)
        if user is None:
            return "created"
        return _verdict(partial(getattr, user), profile.version, values) or "updated"

    async def last_webhook_at(self, session: AsyncSession) -> datetime | None:
        """When the latest webhook was applied, or None; for health reports."""
        async with unavailable_on_failure(session):
            return await last_webhook_at(session)

    def limits(self, session: AsyncSession) -> ColumnLimits:
        """What the model's columns hold on the session's database (built once per dialect)."""
        dialect = session.get_bind().dialect
        limits = self._limits.get(dialect.name)
        if limits is None:
            limits = self._limits[dialect.name] = ColumnLimits(self.model, dialect)
        return limits

    async def _sync(
        self, session: AsyncSession, profile: UserProfile, now: datetime, *, checked: bool = False
    ) -> tuple[SyncResult[M], bool]:
        """Read, and upsert only on a miss or a change. Returns the result and whether a write was attempted.

        The profile is checked against the columns only here, once a write is due (unless ``checked``).
        """
        values = carried_values(self.model, profile.fields)
        user = await self._load(session, profile.clerk_id, fast=True)
        if user is not None:
            verdict = _verdict(partial(getattr, user), profile.version, values)
            if verdict is not None:
                return SyncResult(user, verdict, profile.source), False
        if not checked:
            self.limits(session).check_profile(profile, values)
        changed = tuple(key for key in values if user is None or getattr(user, key) != values[key])
        stmt = upsert_statement(
            self.model,
            session.get_bind().dialect.name,
            clerk_id=profile.clerk_id,
            # A row created from ``sub`` alone holds no data, so it must not claim a version: otherwise the
            # token's iat would outrank the Backend API's (older) updated_at and block the first-sight fetch.
            version=profile.version if values else None,
            values=values,
            now=now,
        )
        written = (await session.execute(stmt, execution_options={"populate_existing": True})).scalar_one_or_none()
        if written is not None:
            if written.created_at == now:  # see upsert_statement: only an insert binds our ``now``
                # A user created from ``sub`` alone carries no fields, and is still a write to audit.
                return SyncResult(written, "created", profile.source, tuple(values) or ("clerk_id",)), True
            return SyncResult(written, "updated", profile.source, changed), True
        # Another writer got there first (a concurrent first request, a newer event, a deletion).
        user = await self._load(session, profile.clerk_id)
        if user is None:  # pragma: no cover - rows are never hard-deleted
            raise RuntimeError(f"user {profile.clerk_id!r} vanished during upsert")
        return SyncResult(
            user, _verdict(partial(getattr, user), profile.version, values) or "unchanged", profile.source
        ), True

    async def _delete(self, session: AsyncSession, deletion: UserDeletion, now: datetime) -> SyncResult[M]:
        stmt = tombstone_statement(
            self.model,
            session.get_bind().dialect.name,
            clerk_id=deletion.clerk_id,
            version=deletion.version,
            now=now,
        )
        written = (await session.execute(stmt, execution_options={"populate_existing": True})).scalar_one_or_none()
        if written is not None:
            return SyncResult(written, "deleted", deletion.source, ("deleted_at",))
        user = await self._load(session, deletion.clerk_id)
        if user is None:  # pragma: no cover - rows are never hard-deleted
            raise RuntimeError(f"user {deletion.clerk_id!r} vanished during delete")
        return SyncResult(user, "unchanged", deletion.source)

    async def _load(self, session: AsyncSession, clerk_id: str, *, fast: bool = False) -> M | None:
        """One indexed read; ``populate_existing`` so a row already in the session shows what is stored now.

        ``fast`` (the first read of a sync) may use the session's in-process SQLite reader. Reads after a write
        must not: the reader's snapshot began before that write.
        """
        stmt, params = self._by_clerk_id, {"clerk_id": clerk_id}
        reader = session.info.get(READER_KEY) if fast else None
        if reader is not None:
            try:
                with Session(reader) as side:
                    found = side.execute(stmt, params).scalar_one_or_none()
                    if found is None:
                        return None
                    side.expunge(found)
                # Attach the row to the caller's session without another query (no thread hop at all).
                merged: M = session.sync_session.merge(found, load=False)
                return merged
            except SQLAlchemyError as error:  # locked, or used off its thread: the regular path will cope
                _log.debug("in-loop SQLite read failed (%s); using aiosqlite", type(error).__name__)
        options = {"populate_existing": True}
        loaded: M | None = (await session.execute(stmt, params, execution_options=options)).scalar_one_or_none()
        return loaded

    async def _after(self, result: SyncResult[M]) -> None:
        """Audit the write and run its hook; reads (unchanged, stale, refused) leave no trace."""
        if not result.changed:
            return
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
        hook = self._hooks.get(result.action)
        if hook is None:
            return
        try:
            await hook(result)
        except Exception:
            _log.exception("on_user_%s hook failed for %s", result.action, result.user.clerk_id)


def _refused(source: Source) -> ClerkSyncError:
    """The refusal for a value the database itself refused; which one it did not say in a form we repeat."""
    return refusal(source, None, "holds a value the database refused")


#: Besides the profile's own columns, what ``_verdict`` reads.
_VERDICT_COLUMNS = frozenset({"deleted_at", "clerk_version"})


def _verdict(stored: Callable[[str], Any], version: int, values: Mapping[str, Any]) -> Action | None:
    """Why no write is needed for the stored row (``stored(key)`` reads a column), or None to write ``values``."""
    if stored("deleted_at") is not None:
        return "deleted"
    if all(stored(key) == value for key, value in values.items()):
        return "unchanged"
    stored_version = stored("clerk_version")
    if stored_version is not None and stored_version > version:
        return "stale"
    return None
