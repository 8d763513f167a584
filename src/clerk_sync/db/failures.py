"""Turn "the database is down" into ``DatabaseUnavailableError`` (503 + Retry-After), and nothing else.

Driver errors differ per backend and per moment: asyncpg raises a raw ``ConnectionRefusedError`` when connecting
to a closed port, a bare ``DBAPIError`` for a missing database, ``InternalError`` for a terminated backend;
aiosqlite raises ``OperationalError`` for a file it cannot open or a lock it could not get in time. What they
share is that retrying later may succeed. Integrity, programming and data errors are bugs and stay loud.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from clerk_sync.errors import DatabaseUnavailableError

__all__ = ["is_unavailable", "unavailable_on_failure"]

_log = logging.getLogger(__name__)

_BUGS = (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.DataError, sa_exc.NotSupportedError)


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` means the database could not serve us right now (retrying may succeed)."""
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or not isinstance(error, _BUGS)
    return isinstance(error, OSError | sa_exc.TimeoutError | sa_exc.DisconnectionError)


@asynccontextmanager
async def unavailable_on_failure(session: AsyncSession) -> AsyncIterator[None]:
    """Translate availability failures raised inside the block, after releasing the session's transaction."""
    try:
        yield
    except Exception as error:
        if not is_unavailable(error):
            raise
        _log.warning("database unavailable: %s", type(error).__name__, exc_info=True)
        with suppress(Exception):  # the connection is already broken; the original error is what matters
            await session.rollback()
        raise DatabaseUnavailableError(f"database unavailable ({type(error).__name__})") from error
