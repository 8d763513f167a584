"""Plain helpers for the storage tests: profiles and a statement recorder."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from clerk_sync.db.engine import sqlite_reader
from clerk_sync.profile import Source, UserProfile

__all__ = ["StatementLog", "profile"]


def profile(
    clerk_id: str = "user_1", version: int = 1_000, source: Source = Source.TOKEN, **fields: Any
) -> UserProfile:
    """A profile carrying exactly ``fields`` (absent keys are absent, ``None`` means cleared)."""
    return UserProfile(clerk_id=clerk_id, version=version, source=source, fields=MappingProxyType(fields))


@dataclass
class StatementLog:
    """Records SQL sent through an engine and the commits it issued, via core engine events."""

    sql: list[str] = field(default_factory=list)
    commits: int = 0

    @classmethod
    def attach(cls, engine: AsyncEngine) -> StatementLog:
        """Start recording on ``engine``."""
        log = cls()
        # The steady-state read of an SQLite file goes through the engine's in-loop reader: count it too.
        for target in filter(None, (engine.sync_engine, sqlite_reader(engine))):

            @event.listens_for(target, "before_cursor_execute")
            def _statement(*args: Any) -> None:
                log.sql.append(str(args[2]).strip())

            @event.listens_for(target, "commit")
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
