"""What a store does inside one transaction, written once on a synchronous ``Session``.

``SQLAlchemyStore`` calls these directly; ``AsyncSQLAlchemyStore`` runs the same functions through
``AsyncSession.run_sync``, so the two stores cannot drift apart and an async write pays one greenlet hop, not one
per statement. The rules (what to write, what a stored row means) come from ``clerk_sync.store``; the statements
from ``clerk_sync.db.upsert``. Nothing here commits, audits or runs hooks: the stores do, once the transaction is
over.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state

from clerk_sync.backfill_store import Plan, plan_for
from clerk_sync.db.limits import ColumnLimits
from clerk_sync.db.mixin import ClerkUserMixin
from clerk_sync.db.upsert import tombstone_statement, upsert_statement
from clerk_sync.db.webhook_log import record_webhook
from clerk_sync.errors import ClerkSyncError, ConfigurationError
from clerk_sync.profile import Source, UserDeletion, UserProfile, refusal
from clerk_sync.store import (
    Action,
    SyncResult,
    carried_values,
    changed_columns,
    created_changes,
    verdict,
    write_version,
)

__all__ = ["UserOperations", "refused"]

M = TypeVar("M", bound=ClerkUserMixin)

#: Re-read what is stored now, even for a row the session already holds (after an upsert that returned nothing).
_FRESH = {"populate_existing": True}


class UserOperations(Generic[M]):
    """The statements and verdicts for one user model; stateless apart from caches, shared by a store's calls."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.columns = frozenset(sa_inspect(model).columns.keys())
        self._class_manager = sa_inspect(model).class_manager
        # Built once: composing the expression costs more than running the cached statement (profiled).
        self._by_clerk_id: Select[M] = select(model).where(model.clerk_id == bindparam("clerk_id"))
        self._limits: dict[str, ColumnLimits] = {}  # by dialect name, built on the first write

    def loaded(self, row: Mapping[str, Any]) -> M:
        """An instance of the model holding ``row`` as if a session had loaded it: committed state, no history.

        ``state.dict`` is where SQLAlchemy's own loader puts loaded values (``loading._populate_full``); filling
        it the same way costs 8 us where the constructor's attribute events cost 28 (measured per user), a
        steady state's largest Python cost. ``make_transient_to_detached`` then marks it persistent-detached.
        """
        user: M = self._class_manager.new_instance()
        instance_state(user).dict.update(row)
        make_transient_to_detached(user)
        return user

    def values(self, profile: UserProfile) -> dict[str, Any]:
        """The profile's carried columns as values to write (``clerk_sync.store.carried_values``)."""
        return carried_values(profile.fields, self.columns)

    def limits(self, dialect: Dialect) -> ColumnLimits:
        """What the model's columns hold on ``dialect`` (built once per dialect)."""
        limits = self._limits.get(dialect.name)
        if limits is None:
            limits = self._limits[dialect.name] = ColumnLimits(self.model, dialect)
        return limits

    def load(self, session: Session, clerk_id: str) -> M | None:
        """One indexed read of what is stored now."""
        loaded: M | None = session.execute(
            self._by_clerk_id, {"clerk_id": clerk_id}, execution_options=_FRESH
        ).scalar_one_or_none()
        return loaded

    def read(self, session: Session, profile: UserProfile) -> SyncResult[M] | None:
        """The stored row when no write is due (``deleted``, ``unchanged`` or ``stale``), else None."""
        values = self.values(profile)
        user = self.load(session, profile.clerk_id)
        if user is None:
            return None
        action = verdict(partial(getattr, user), profile.version, values)
        return None if action is None else SyncResult(user, action, profile.source)

    def sync(
        self, session: Session, profile: UserProfile, now: datetime, *, checked: bool = False
    ) -> tuple[SyncResult[M], bool]:
        """Read, and upsert only on a miss or a change. Returns the result and whether a write was attempted.

        The profile is checked against the columns only here, once a write is due (unless ``checked``).
        """
        return self._sync(session, profile, self.load(session, profile.clerk_id), now, checked=checked)

    def sync_page(
        self, session: Session, profiles: Sequence[UserProfile], now: datetime
    ) -> tuple[list[SyncResult[M] | ClerkSyncError], bool]:
        """``sync`` for each profile in the session's one transaction, after ONE read of the whole page.

        A profile the column limits refuse is that profile's outcome (checked before any statement of its own,
        so the transaction stays usable); a value the database itself refuses raises, and aborts the page.
        Returns the outcomes in order and whether any write was attempted.
        """
        stored = self._load_many(session, [profile.clerk_id for profile in profiles])
        outcomes: list[SyncResult[M] | ClerkSyncError] = []
        wrote = False
        touched: set[str] = set()
        for profile in profiles:
            # The page's read is what was stored before the page; a second sight of an id re-reads it.
            user = self.load(session, profile.clerk_id) if profile.clerk_id in touched else stored.get(profile.clerk_id)
            touched.add(profile.clerk_id)
            try:
                result, attempted = self._sync(session, profile, user, now)
            except ConfigurationError:
                raise
            except ClerkSyncError as refused_value:  # the limits' refusal, raised before any statement of its own
                outcomes.append(refused_value)
                continue
            wrote = wrote or attempted
            outcomes.append(result)
        return outcomes, wrote

    def plan_page(self, session: Session, profiles: Sequence[UserProfile]) -> list[Plan]:
        """What ``sync_page`` would do now, without writing: one read for the whole page."""
        stored = self._load_many(session, [profile.clerk_id for profile in profiles])
        plans: list[Plan] = []
        for profile in profiles:
            user = stored.get(profile.clerk_id)
            read = None if user is None else partial(getattr, user)
            plans.append(plan_for(read, profile.version, self.values(profile)))
        return plans

    def _load_many(self, session: Session, clerk_ids: Sequence[str]) -> dict[str, M]:
        """One indexed read of every listed user that is stored (a page is at most 500 ids: one ``IN`` list)."""
        if not clerk_ids:
            return {}
        found = session.execute(
            select(self.model).where(self.model.clerk_id.in_(clerk_ids)), execution_options=_FRESH
        ).scalars()
        return {user.clerk_id: user for user in found}

    def _sync(
        self, session: Session, profile: UserProfile, user: M | None, now: datetime, *, checked: bool = False
    ) -> tuple[SyncResult[M], bool]:
        """``sync`` given what is stored (``user``, None for a miss)."""
        values = self.values(profile)
        if user is not None:
            action = verdict(partial(getattr, user), profile.version, values)
            if action is not None:
                return SyncResult(user, action, profile.source), False
        dialect = _dialect(session, self.model)
        if not checked:
            self.limits(dialect).check_profile(profile, values)
        changed = changed_columns(None if user is None else partial(getattr, user), values)
        stmt = upsert_statement(
            self.model,
            dialect.name,
            clerk_id=profile.clerk_id,
            version=write_version(profile, values),
            values=values,
            now=now,
        )
        written: M | None = session.execute(stmt, execution_options=_FRESH).scalar_one_or_none()
        if written is not None:
            if written.created_at == now:  # see upsert_statement: only an insert binds our ``now``
                return SyncResult(written, "created", profile.source, created_changes(values)), True
            return SyncResult(written, "updated", profile.source, changed), True
        # Another writer got there first (a concurrent first request, a newer event, a deletion).
        stored = self._reload(session, profile.clerk_id)
        action = verdict(partial(getattr, stored), profile.version, values) or "unchanged"
        return SyncResult(stored, action, profile.source), True

    def delete(self, session: Session, deletion: UserDeletion, now: datetime) -> SyncResult[M]:
        """Tombstone the user (creating the tombstone if never seen); ``unchanged`` when it already was one."""
        stmt = tombstone_statement(
            self.model,
            _dialect(session, self.model).name,
            clerk_id=deletion.clerk_id,
            version=deletion.version,
            now=now,
        )
        written: M | None = session.execute(stmt, execution_options=_FRESH).scalar_one_or_none()
        if written is not None:
            return SyncResult(written, "deleted", deletion.source, ("deleted_at",))
        return SyncResult(self._reload(session, deletion.clerk_id), "unchanged", deletion.source)

    def apply_webhook(
        self, session: Session, svix_id: str, event_type: str, change: UserProfile | UserDeletion, now: datetime
    ) -> SyncResult[M] | None:
        """The ledger row, then the effect, in the session's one transaction; None for an applied message."""
        if not record_webhook(session, svix_id=svix_id, event_type=event_type, now=now):
            return None
        if isinstance(change, UserDeletion):
            return self.delete(session, change, now)
        return self.sync(session, change, now, checked=True)[0]

    def check_webhook(
        self, dialect: Dialect, svix_id: str, event_type: str, change: UserProfile | UserDeletion
    ) -> None:
        """Everything checked before the ledger row: a refused event leaves no trace, so it is not "applied"."""
        limits = self.limits(dialect)
        limits.check_webhook(svix_id, event_type)
        if isinstance(change, UserDeletion):
            limits.check_deletion(change)
        else:
            limits.check_profile(change, self.values(change))

    def plan(self, session: Session, profile: UserProfile) -> Action:
        """What ``sync`` would do with ``profile`` now, without writing: one indexed read."""
        values = self.values(profile)
        user = self.load(session, profile.clerk_id)
        if user is None:
            return "created"
        return verdict(partial(getattr, user), profile.version, values) or "updated"

    def _reload(self, session: Session, clerk_id: str) -> M:
        user = self.load(session, clerk_id)
        if user is None:  # pragma: no cover - rows are never hard-deleted
            raise RuntimeError(f"user {clerk_id!r} vanished during a write")
        return user


def refused(source: Source) -> ClerkSyncError:
    """The refusal for a value the database itself refused; which one it did not say in a form we repeat."""
    return refusal(source, None, "holds a value the database refused")


def _dialect(session: Session, model: type[Any]) -> Dialect:
    """The dialect of the database ``model`` lives in (an app's session may bind several)."""
    return session.get_bind(mapper=sa_inspect(model)).dialect
