"""The SQLAlchemy user stores: ``AsyncSQLAlchemyStore`` (ASGI apps) and ``SQLAlchemyStore`` (WSGI apps, Flask).

Both implement the port of ``clerk_sync.store`` and own their sessions: each call opens a short session, runs one
transaction (``clerk_sync.db.operations``, the same code for both) and commits only when it wrote. Users come back
detached with every column loaded; ``session.add(user)`` binds one to the app's session without a query.

A value the model's columns cannot hold (``clerk_sync.db.limits``), or one the database refuses, is refused
before anything is written, with the error of the profile's source (``clerk_sync.profile.refusal``). Token
profiles are checked only when they are about to be written, so the steady state costs no check at all;
webhooks are checked before their ledger row. Database outages surface as ``DatabaseUnavailableError``.

The async store's steady state reads on the driver itself (``clerk_sync.db.reader``: asyncpg connections, or
the in-loop pysqlite connection of an SQLite file), measured several times cheaper than a session; the sync
store's, on PostgreSQL and on an SQLite file, on each request thread's own autocommit connection
(``clerk_sync.db.sync_reader``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from clerk_sync.backfill_store import Checkpoint, PageOutcome, Plan
from clerk_sync.db import checkpoints
from clerk_sync.db.engine import create_engine, create_sessionmaker, create_sync_engine_for, engine_options
from clerk_sync.db.failures import unavailable_on_failure, unavailable_on_failure_sync
from clerk_sync.db.mixin import ClerkUserMixin, utcnow
from clerk_sync.db.models import User
from clerk_sync.db.operations import UserOperations, refused
from clerk_sync.db.reader import UserReader, open_user_reader
from clerk_sync.db.sync_reader import SyncUserReader, open_sync_user_reader
from clerk_sync.db.webhook_log import DEFAULT_PRUNE_BATCH, last_webhook_at, prune_webhook_batch
from clerk_sync.errors import (
    BackendAPIError,
    ClerkSyncError,
    ConfigurationError,
    DatabaseUnavailableError,
    UserDeletedError,
)
from clerk_sync.profile import UserDeletion, UserProfile
from clerk_sync.store import (
    VERDICT_COLUMNS,
    Action,
    AsyncSyncHook,
    SyncHook,
    SyncResult,
    WebhookOutcome,
    WriteAudit,
    verdict,
)

__all__ = ["AsyncSQLAlchemyStore", "SQLAlchemyStore"]

M = TypeVar("M", bound=ClerkUserMixin)


class _RefusedInPage(BackendAPIError):
    """Raised when the database refused a value somewhere in a page: which user's, it did not say. A Backend API
    refusal (what ``refusal(Source.BACKFILL, ...)`` gives), so it keeps that family's code and status; it never
    leaves the store, which replays the page one user at a time."""


def _hooks(created: Any, updated: Any, deleted: Any) -> Mapping[Action, Any]:
    return {"created": created, "updated": updated, "deleted": deleted}


def _judge(ops: UserOperations[M], row: Mapping[str, Any], profile: UserProfile) -> SyncResult[M] | None:
    """A direct read's verdict: the loaded user when no write is due, None when ``sync`` has work (or the row
    lacks a column the verdict needs: a deferred one the reader does not load)."""
    values = ops.values(profile)
    if not row.keys() >= values.keys() | VERDICT_COLUMNS:
        return None
    action = verdict(row.__getitem__, profile.version, values)
    if action is None:
        return None
    if action == "deleted":
        raise UserDeletedError()
    return SyncResult(ops.loaded(row), action, profile.source)


class AsyncSQLAlchemyStore(Generic[M]):
    """``AsyncUserStore`` on an ``AsyncEngine`` (asyncpg or aiosqlite), for the app's model (default ``User``).

    Build one at start and share it. ``direct_reads=False`` sends every read through the engine's sessions, e.g.
    when the engine connects in a way its URL does not describe (a custom ``creator``). Hooks run after the
    write committed and may be coroutine functions. ``logger`` receives the audit trail (default
    ``clerk_sync.audit``): one record per write, column names only.
    """

    @overload
    def __init__(
        self: AsyncSQLAlchemyStore[User],
        engine: AsyncEngine,
        model: None = None,
        *,
        on_user_created: SyncHook | AsyncSyncHook | None = None,
        on_user_updated: SyncHook | AsyncSyncHook | None = None,
        on_user_deleted: SyncHook | AsyncSyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
    ) -> None: ...

    @overload
    def __init__(
        self,
        engine: AsyncEngine,
        model: type[M],
        *,
        on_user_created: SyncHook | AsyncSyncHook | None = None,
        on_user_updated: SyncHook | AsyncSyncHook | None = None,
        on_user_deleted: SyncHook | AsyncSyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
    ) -> None: ...

    def __init__(
        self,
        engine: AsyncEngine,
        model: type[Any] | None = None,
        *,
        on_user_created: SyncHook | AsyncSyncHook | None = None,
        on_user_updated: SyncHook | AsyncSyncHook | None = None,
        on_user_deleted: SyncHook | AsyncSyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
    ) -> None:
        resolved: type[Any] = User if model is None else model  # the overloads tie M to User for None
        self.engine = engine
        self.model: type[M] = resolved
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        self._ops: UserOperations[M] = UserOperations(resolved)
        self._audit = WriteAudit(_hooks(on_user_created, on_user_updated, on_user_deleted), logger)
        self._owns_engine = False
        self.reader: UserReader | None = open_user_reader(engine, resolved) if direct_reads else None

    @classmethod
    def from_url(
        cls,
        url: str,
        model: type[Any] | None = None,
        *,
        on_user_created: SyncHook | AsyncSyncHook | None = None,
        on_user_updated: SyncHook | AsyncSyncHook | None = None,
        on_user_deleted: SyncHook | AsyncSyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
        engine_kwargs: Mapping[str, Any] | None = None,
    ) -> AsyncSQLAlchemyStore[Any]:
        """A store on its own engine (``clerk_sync.db.create_engine``), disposed by ``close()``."""
        kwargs = dict(engine_kwargs or {})
        store: AsyncSQLAlchemyStore[Any] = cls(
            create_engine(url, **kwargs),
            model,
            on_user_created=on_user_created,
            on_user_updated=on_user_updated,
            on_user_deleted=on_user_deleted,
            logger=logger,
            direct_reads=False,
        )
        store._owns_engine = True
        if direct_reads:  # the reader's connections get the driver arguments the engine was given
            connect_args = engine_options(url, **kwargs).get("connect_args", {})
            store.reader = open_user_reader(store.engine, store.model, connect_args)
        return store

    async def read(self, profile: UserProfile) -> SyncResult[M] | None:
        """The steady state: the stored row when it already reflects ``profile``, else None (``sync`` has work).

        On the driver when it can answer; otherwise one indexed SELECT in a short session. ``UserDeletedError``
        for a tombstone.
        """
        if self.reader is not None:
            try:
                row = await self.reader.fetch(profile.clerk_id)
            except LookupError:
                return None
            if row is not None:
                return _judge(self._ops, row, profile)
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            result = await session.run_sync(self._ops.read, profile)
        if result is not None and result.action == "deleted":
            raise UserDeletedError()
        return result

    async def sync(self, profile: UserProfile, *, raise_if_deleted: bool = True) -> SyncResult[M]:
        """Create on first sight, update what changed, else only read; ``UserDeletedError`` for a tombstone
        unless ``raise_if_deleted=False`` (then the action is ``deleted``)."""
        async with self.sessionmaker() as session, unavailable_on_failure(session, partial(refused, profile.source)):
            result, wrote = await session.run_sync(self._ops.sync, profile, utcnow())
            if wrote:  # even a rejected upsert holds SQLite's write lock until the transaction ends
                await session.commit()
        if result.action == "deleted" and raise_if_deleted:
            raise UserDeletedError()
        await self._audit.after_async(result)
        return result

    async def delete(self, deletion: UserDeletion) -> SyncResult[M]:
        """Tombstone the user (creating the tombstone if never seen); idempotent, never a hard delete."""
        self._ops.limits(self.engine.dialect).check_deletion(deletion)
        async with self.sessionmaker() as session, unavailable_on_failure(session, partial(refused, deletion.source)):
            result = await session.run_sync(self._ops.delete, deletion, utcnow())
            await session.commit()
        await self._audit.after_async(result)
        return result

    async def apply_webhook(self, svix_id: str, event_type: str, change: UserProfile | UserDeletion) -> WebhookOutcome:
        """Apply one Svix message exactly once: its ledger row and its effect commit in one transaction."""
        self._ops.check_webhook(self.engine.dialect, svix_id, event_type, change)
        async with self.sessionmaker() as session, unavailable_on_failure(session, partial(refused, change.source)):
            result = await session.run_sync(self._ops.apply_webhook, svix_id, event_type, change, utcnow())
            if result is None:
                await session.rollback()
                return "duplicate"
            await session.commit()
        await self._audit.after_async(result)
        return result.action

    async def plan(self, profile: UserProfile) -> Action:
        """What ``sync`` would do now, without writing (dry runs): one indexed read."""
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            return await session.run_sync(self._ops.plan, profile)

    async def sync_page(self, profiles: Sequence[UserProfile]) -> list[PageOutcome]:
        """``sync(raise_if_deleted=False)`` for a page of profiles in ONE transaction (``BackfillStore``).

        One read for the page, the due upserts, one commit; audit and hooks after it. Should the database
        itself refuse a value (a constraint the limits do not model), the page is rolled back and replayed one
        user per transaction, so that user alone is refused and the others' outcomes are exactly the same.
        """
        try:
            async with self.sessionmaker() as session, unavailable_on_failure(session, _RefusedInPage):
                outcomes, wrote = await session.run_sync(self._ops.sync_page, profiles, utcnow())
                if wrote:
                    await session.commit()
        except _RefusedInPage:
            return [await self._sync_alone(profile) for profile in profiles]
        for outcome in outcomes:
            if isinstance(outcome, SyncResult):
                await self._audit.after_async(outcome)
        return list(outcomes)

    async def _sync_alone(self, profile: UserProfile) -> PageOutcome:
        try:
            return await self.sync(profile, raise_if_deleted=False)
        except (DatabaseUnavailableError, ConfigurationError):
            raise
        except ClerkSyncError as refused_value:
            return refused_value

    async def plan_page(self, profiles: Sequence[UserProfile]) -> list[Plan]:
        """What ``sync_page`` would do now, without writing: one read for the page."""
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            return await session.run_sync(self._ops.plan_page, profiles)

    async def prune_candidates(self, created_before: datetime) -> list[str]:
        """Ids of live rows created before ``created_before``, in id order."""
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            return await session.run_sync(checkpoints.prune_candidates, self.model, created_before)

    async def load_checkpoint(self, walk: str) -> Checkpoint | None:
        """The backfill walk's checkpoint (``clerk_backfill_checkpoints``), None when there is none."""
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            return await session.run_sync(checkpoints.load_checkpoint, walk)

    async def save_checkpoint(self, walk: str, checkpoint: Checkpoint) -> None:
        """Record the walk's checkpoint, committed."""
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            await session.run_sync(checkpoints.save_checkpoint, walk, checkpoint)
            await session.commit()

    async def clear_checkpoint(self, walk: str) -> None:
        """Forget the walk's checkpoint, committed."""
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            await session.run_sync(checkpoints.clear_checkpoint, walk)
            await session.commit()

    async def last_webhook_at(self) -> datetime | None:
        """When the latest webhook was applied (None: never); ``DatabaseUnavailableError`` when the database
        does not answer, so it doubles as the readiness probe."""
        async with self.sessionmaker() as session, unavailable_on_failure(session):
            return await session.run_sync(last_webhook_at)

    async def prune_webhooks(self, older_than: datetime, batch: int = DEFAULT_PRUNE_BATCH) -> int:
        """Forget ledger rows processed before ``older_than`` (aware); how many went.

        One short transaction per ``batch`` rows, so deliveries never wait behind a long delete; it stops at the
        first batch that is not full. Pass a cutoff beyond Svix's retry window (``DEFAULT_WEBHOOK_RETENTION``):
        a redelivery of a forgotten id would be applied again.
        """
        total = 0
        while True:
            async with self.sessionmaker() as session, unavailable_on_failure(session):
                deleted = await session.run_sync(prune_webhook_batch, older_than=older_than, batch=batch)
                await session.commit()
            total += deleted
            if deleted < batch:
                return total

    async def close(self) -> None:
        """Close the direct reader's connections, and the engine if ``from_url`` created it."""
        if self.reader is not None:
            await self.reader.close()
        if self._owns_engine:
            await self.engine.dispose()


class SQLAlchemyStore(Generic[M]):
    """``UserStore`` for threads (WSGI apps, Flask-SQLAlchemy, scripts) on a synchronous ``Engine`` or session
    factory, for the app's model (default ``User``).

    ``bind`` is an ``Engine``, a ``sessionmaker`` or a ``scoped_session`` (Flask-SQLAlchemy's ``db.session``):
    the store opens its own short sessions from the factory behind it, so it never commits the app's own unit
    of work. Safe to share between threads. Hooks are plain functions, run after the write committed.

    On an ``Engine`` (PostgreSQL, or an SQLite file) the steady-state read runs on each thread's own autocommit
    connection (``clerk_sync.db.sync_reader``); ``direct_reads=False`` keeps it in a session. A session factory
    always reads through its sessions: the app's ``Session`` decides which engine a model lives on
    (Flask-SQLAlchemy's bind keys) and may carry its own events, and a read beside it would bypass both.
    """

    @overload
    def __init__(
        self: SQLAlchemyStore[User],
        bind: Engine | sessionmaker[Session] | scoped_session[Session],
        model: None = None,
        *,
        on_user_created: SyncHook | None = None,
        on_user_updated: SyncHook | None = None,
        on_user_deleted: SyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
    ) -> None: ...

    @overload
    def __init__(
        self,
        bind: Engine | sessionmaker[Session] | scoped_session[Session],
        model: type[M],
        *,
        on_user_created: SyncHook | None = None,
        on_user_updated: SyncHook | None = None,
        on_user_deleted: SyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
    ) -> None: ...

    def __init__(
        self,
        bind: Engine | sessionmaker[Session] | scoped_session[Session],
        model: type[Any] | None = None,
        *,
        on_user_created: SyncHook | None = None,
        on_user_updated: SyncHook | None = None,
        on_user_deleted: SyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
    ) -> None:
        resolved: type[Any] = User if model is None else model
        self.model: type[M] = resolved
        if isinstance(bind, Engine):
            self.sessionmaker: sessionmaker[Session] = sessionmaker(bind, expire_on_commit=False)
        elif isinstance(bind, scoped_session):
            self.sessionmaker = bind.session_factory
        else:
            self.sessionmaker = bind
        self._engine: Engine | None = None  # set when ``from_url`` created it, disposed by ``close()``
        self._ops: UserOperations[M] = UserOperations(resolved)
        self._audit = WriteAudit(_hooks(on_user_created, on_user_updated, on_user_deleted), logger)
        self.reader: SyncUserReader | None = None
        if direct_reads and isinstance(bind, Engine):
            self.reader = open_sync_user_reader(bind, resolved)

    @classmethod
    def from_url(
        cls,
        url: str,
        model: type[Any] | None = None,
        *,
        on_user_created: SyncHook | None = None,
        on_user_updated: SyncHook | None = None,
        on_user_deleted: SyncHook | None = None,
        logger: logging.Logger | None = None,
        direct_reads: bool = True,
        engine_kwargs: Mapping[str, Any] | None = None,
    ) -> SQLAlchemyStore[Any]:
        """A store on its own engine; an async URL names its sync twin (``clerk_sync.db.engine.sync_url``)."""
        engine = create_sync_engine_for(url, **dict(engine_kwargs or {}))
        store: SQLAlchemyStore[Any] = cls(
            engine,
            model,
            on_user_created=on_user_created,
            on_user_updated=on_user_updated,
            on_user_deleted=on_user_deleted,
            logger=logger,
            direct_reads=direct_reads,
        )
        store._engine = engine
        return store

    def _session(self) -> Session:
        # Users outlive the session: an app's factory may expire on commit (Flask-SQLAlchemy's does).
        return self.sessionmaker(expire_on_commit=False)

    def read(self, profile: UserProfile) -> SyncResult[M] | None:
        """The steady state: the stored row when it already reflects ``profile``, else None (``sync`` has work).

        On the thread's own connection when the reader can answer; otherwise one indexed SELECT in a short
        session. ``UserDeletedError`` for a tombstone.
        """
        if self.reader is not None:
            try:
                row = self.reader.fetch(profile.clerk_id)
            except LookupError:
                return None
            if row is not None:
                return _judge(self._ops, row, profile)
        with self._session() as session, unavailable_on_failure_sync(session):
            result = self._ops.read(session, profile)
        if result is not None and result.action == "deleted":
            raise UserDeletedError()
        return result

    def sync(self, profile: UserProfile, *, raise_if_deleted: bool = True) -> SyncResult[M]:
        """Create on first sight, update what changed, else only read; ``UserDeletedError`` for a tombstone
        unless ``raise_if_deleted=False`` (then the action is ``deleted``)."""
        with self._session() as session, unavailable_on_failure_sync(session, partial(refused, profile.source)):
            result, wrote = self._ops.sync(session, profile, utcnow())
            if wrote:
                session.commit()
        if result.action == "deleted" and raise_if_deleted:
            raise UserDeletedError()
        self._audit.after(result)
        return result

    def delete(self, deletion: UserDeletion) -> SyncResult[M]:
        """Tombstone the user (creating the tombstone if never seen); idempotent, never a hard delete."""
        with self._session() as session:
            self._ops.limits(self._dialect(session)).check_deletion(deletion)
            with unavailable_on_failure_sync(session, partial(refused, deletion.source)):
                result = self._ops.delete(session, deletion, utcnow())
                session.commit()
        self._audit.after(result)
        return result

    def apply_webhook(self, svix_id: str, event_type: str, change: UserProfile | UserDeletion) -> WebhookOutcome:
        """Apply one Svix message exactly once: its ledger row and its effect commit in one transaction."""
        with self._session() as session:
            self._ops.check_webhook(self._dialect(session), svix_id, event_type, change)
            with unavailable_on_failure_sync(session, partial(refused, change.source)):
                result = self._ops.apply_webhook(session, svix_id, event_type, change, utcnow())
                if result is None:
                    session.rollback()
                    return "duplicate"
                session.commit()
        self._audit.after(result)
        return result.action

    def plan(self, profile: UserProfile) -> Action:
        """What ``sync`` would do now, without writing (dry runs): one indexed read."""
        with self._session() as session, unavailable_on_failure_sync(session):
            return self._ops.plan(session, profile)

    def last_webhook_at(self) -> datetime | None:
        """When the latest webhook was applied (None: never); also the readiness probe."""
        with self._session() as session, unavailable_on_failure_sync(session):
            return last_webhook_at(session)

    def prune_webhooks(self, older_than: datetime, batch: int = DEFAULT_PRUNE_BATCH) -> int:
        """Forget ledger rows processed before ``older_than`` (aware), one short transaction per ``batch``
        rows; how many went. The cutoff must lie beyond Svix's retry window (``DEFAULT_WEBHOOK_RETENTION``)."""
        total = 0
        while True:
            with self._session() as session, unavailable_on_failure_sync(session):
                deleted = prune_webhook_batch(session, older_than=older_than, batch=batch)
                session.commit()
            total += deleted
            if deleted < batch:
                return total

    def close(self) -> None:
        """Close the direct reader's connections, and the engine if ``from_url`` created it; an engine or factory
        the app passed stays open."""
        if self.reader is not None:
            self.reader.close()
        if self._engine is not None:
            self._engine.dispose()

    def _dialect(self, session: Session) -> Any:
        return session.get_bind(mapper=self.model).dialect
