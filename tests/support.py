"""Test doubles and helpers shared by the whole suite, so each exists once: fake time, recorded SQL, an app's own
declarative base and throwaway engines.

Plain classes and context managers only; the fixtures that hand them out live in the ``conftest.py`` files.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase

from clerk_sync.db import NAMING_CONVENTION, create_engine

__all__ = [
    "ANYIO_BACKEND",
    "AppBase",
    "Clock",
    "Sleeps",
    "Statements",
    "eventually",
    "open_engine",
    "recording",
]

#: Async tests run on asyncio, the loop uvicorn, asyncpg and aiosqlite use in production.
ANYIO_BACKEND = "asyncio"

_DML = frozenset({"INSERT", "UPDATE", "DELETE"})


class Clock:
    """A fake monotonic clock: tests move ``now`` by hand, and ``sleep`` advances it instead of waiting, so code
    that waits for a deadline is tested to the second without real time passing."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait, jump the clock past it, and still yield once (as a real sleep does)."""
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class Sleeps:
    """Stands in for ``asyncio.sleep``: records the delays a retrying client asked for, without waiting them."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Statements:
    """The SQL statements a database was sent, in order; a ``before_cursor_execute`` listener, or a driver trace
    callback through :meth:`record`. ``writes == []`` is how a test proves that something changed nothing."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.record(statement)

    def record(self, statement: str) -> None:
        """Remember one statement (the signature a driver's trace hook calls)."""
        self.sql.append(statement.strip())

    def clear(self) -> None:
        """Forget what was recorded so far (to measure only what follows)."""
        self.sql.clear()

    @property
    def kinds(self) -> list[str]:
        """The first keyword of every statement, upper-cased: ``["SELECT", "INSERT"]``."""
        return [sql.split(None, 1)[0].upper() for sql in self.sql if sql]

    @property
    def writes(self) -> list[str]:
        """Every INSERT, UPDATE and DELETE."""
        return [sql for sql, kind in zip(self.sql, self.kinds, strict=True) if kind in _DML]

    @property
    def selects(self) -> list[str]:
        """Every SELECT."""
        return [sql for sql, kind in zip(self.sql, self.kinds, strict=True) if kind == "SELECT"]


@contextmanager
def recording(engine: AsyncEngine | Engine) -> Iterator[Statements]:
    """Record what ``engine`` sends until the block ends (a store's direct reads are traced by its reader)."""
    statements = Statements()
    targets: list[Engine] = [engine.sync_engine if isinstance(engine, AsyncEngine) else engine]
    for target in targets:
        event.listen(target, "before_cursor_execute", statements)
    try:
        yield statements
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", statements)


class AppBase(DeclarativeBase):
    """An app's own declarative base, unrelated to clerk-sync's ``Base``, with the naming convention the docs
    recommend. Every test's app model derives from it: each names its own table (one metadata holds them all),
    and a test creates only the tables it uses (``open_engine(url, Member)``)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


@asynccontextmanager
async def open_engine(url: str, *models: type[Any], metadata: MetaData | None = None) -> AsyncIterator[AsyncEngine]:
    """clerk-sync's engine on ``url`` with the tables of ``models`` (or all of ``metadata``) created, disposed
    when the block ends."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            if metadata is not None:
                await connection.run_sync(metadata.create_all)
            for model in models:
                await connection.run_sync(model.__table__.create)
        yield engine
    finally:
        await engine.dispose()


async def eventually(condition: Callable[[], Awaitable[bool]], *, within: float, failure: str) -> None:
    """Await ``condition()`` until it holds; fail with ``failure`` once ``within`` seconds pass first. For a
    state the code under test reaches on its own clock (a back-off ending), where no event can be awaited."""
    try:
        async with asyncio.timeout(within):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.05)  # polled: the state has no event to await
    except TimeoutError:
        raise AssertionError(failure) from None
