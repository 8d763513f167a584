"""Plain helpers for the storage tests: profiles, a statement recorder, and the sync store seen from async tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from types import MappingProxyType
from typing import Any, TypeAlias

import anyio.to_thread
from sqlalchemy import Engine, event

from clerk_sync.db import Action, AsyncSQLAlchemyStore, SQLAlchemyStore, SyncResult, User, WebhookOutcome
from clerk_sync.profile import Source, UserDeletion, UserProfile

__all__ = ["AnyStore", "StatementLog", "ThreadedStore", "profile"]


def profile(
    clerk_id: str = "user_1", version: int = 1_000, source: Source = Source.TOKEN, **fields: Any
) -> UserProfile:
    """A profile carrying exactly ``fields`` (absent keys are absent, ``None`` means cleared)."""
    return UserProfile(clerk_id=clerk_id, version=version, source=source, fields=MappingProxyType(fields))


class ThreadedStore:
    """The sync store called as a WSGI app would, on a worker thread each call, awaited by the async tests.

    It runs the real ``SQLAlchemyStore`` unchanged, so one test body checks both stores.
    """

    def __init__(self, store: SQLAlchemyStore[User]) -> None:
        self.inner = store

    @property
    def sync_engine(self) -> Engine:
        bind = self.inner.sessionmaker.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    async def read(self, profile: UserProfile) -> SyncResult[User] | None:
        return await anyio.to_thread.run_sync(self.inner.read, profile)

    async def sync(self, profile: UserProfile, *, raise_if_deleted: bool = True) -> SyncResult[User]:
        return await anyio.to_thread.run_sync(partial(self.inner.sync, profile, raise_if_deleted=raise_if_deleted))

    async def delete(self, deletion: UserDeletion) -> SyncResult[User]:
        return await anyio.to_thread.run_sync(self.inner.delete, deletion)

    async def apply_webhook(self, svix_id: str, event_type: str, change: UserProfile | UserDeletion) -> WebhookOutcome:
        return await anyio.to_thread.run_sync(self.inner.apply_webhook, svix_id, event_type, change)

    async def plan(self, profile: UserProfile) -> Action:
        return await anyio.to_thread.run_sync(self.inner.plan, profile)

    async def last_webhook_at(self) -> datetime | None:
        return await anyio.to_thread.run_sync(self.inner.last_webhook_at)


#: Both stores, awaited: the async store itself, or the sync one on worker threads.
AnyStore: TypeAlias = AsyncSQLAlchemyStore[User] | ThreadedStore


@dataclass
class StatementLog:
    """Records SQL sent through an engine and the commits it issued, via core engine events."""

    sql: list[str] = field(default_factory=list)
    commits: int = 0

    @classmethod
    def attach(cls, engine: Engine) -> StatementLog:
        """Start recording on ``engine`` (an async engine's ``sync_engine``)."""
        log = cls()

        @event.listens_for(engine, "before_cursor_execute")
        def _statement(*args: Any) -> None:
            log.sql.append(str(args[2]).strip())

        @event.listens_for(engine, "commit")
        def _commit(*_: Any) -> None:
            log.commits += 1

        return log

    def clear(self) -> None:
        """Forget what was recorded so far."""
        self.sql.clear()
        self.commits = 0

    @property
    def writes(self) -> list[str]:
        """Every recorded statement that is not a plain read."""
        return [sql for sql in self.sql if not sql.upper().startswith("SELECT")]
