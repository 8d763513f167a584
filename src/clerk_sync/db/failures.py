"""Sort database failures into the two kinds a caller can act on: the database is down, or it refused a value.

"Down" becomes ``DatabaseUnavailableError`` (503 + Retry-After). Driver errors differ per backend and per
moment: asyncpg raises a raw ``ConnectionRefusedError`` when connecting to a closed port, a bare ``DBAPIError``
for a missing database, ``InternalError`` for a terminated backend; aiosqlite raises ``OperationalError`` for a
file it cannot open or a lock it could not get in time. What they share is that retrying later may succeed.

"Refused" is the data's fault, and retrying the same data fails the same way, so it must never look like an
outage (Svix and clients would retry it forever) nor like a bug (a 500): the caller's ``refuse`` builds the
source's own error (a 401 for a token's claim, a 400 for a webhook's field). ``clerk_sync.db.limits`` checks
values before they are written, so this is the backstop for what it cannot know (an app's constraints, column
types it does not model). SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation) say
"refused" on PostgreSQL, where the asyncpg adapter often reports them as a plain ``DBAPIError``; SQLite says it
with ``IntegrityError``, a binding error, or a raw ``OverflowError``/``UnicodeEncodeError`` from the driver.
Programming errors stay loud.

Neither kind repeats the driver's message in logs or in the raised error: it can quote the refused value (an
email, a name), and ``hide_parameters`` only hides the statement's parameters.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import NoReturn

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from clerk_sync.errors import ClerkSyncError, DatabaseUnavailableError

__all__ = ["is_data_error", "is_unavailable", "unavailable_on_failure", "unavailable_on_failure_sync"]

_log = logging.getLogger(__name__)

_BUGS = (sa_exc.IntegrityError, sa_exc.ProgrammingError, sa_exc.DataError, sa_exc.NotSupportedError)

#: SQLSTATE classes of a value the database refused: 22 data exception, 23 integrity constraint violation.
_REFUSED_CLASSES = frozenset({"22", "23"})

#: Raised by a bind processor (JSON serialiser, type conversion) on a value it cannot convert.
_CONVERSION_ERRORS = (TypeError, ValueError, OverflowError)


def is_data_error(error: BaseException) -> bool:
    """True when the database (or its driver) refused a value: sending the same data again fails again."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return False
        if isinstance(error, sa_exc.DataError | sa_exc.IntegrityError):
            return True
        state = _sqlstate(error)
        if state is not None:
            return state[:2] in _REFUSED_CLASSES
        # sqlite3 (3.11+) reports a value of a type it cannot bind as a ProgrammingError, not a DataError.
        return isinstance(error, sa_exc.ProgrammingError) and str(error.orig).startswith("Error binding parameter")
    if isinstance(error, sa_exc.StatementError):  # raised while converting parameters, before the driver
        return isinstance(error.orig, _CONVERSION_ERRORS)
    # sqlite3 raises these unwrapped while binding: an int beyond 64 bits, a str with a lone surrogate.
    return isinstance(error, OverflowError | UnicodeEncodeError)


def is_unavailable(error: BaseException) -> bool:
    """True when ``error`` means the database could not serve us right now (retrying may succeed)."""
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return not isinstance(error, _BUGS) and not is_data_error(error)
    return isinstance(error, OSError | sa_exc.TimeoutError | sa_exc.DisconnectionError)


def _sqlstate(error: sa_exc.DBAPIError) -> str | None:
    """The PostgreSQL SQLSTATE of a driver error (asyncpg's adapter and psycopg both expose one), if any."""
    orig = error.orig
    for name in ("sqlstate", "pgcode"):
        value = getattr(orig, name, None)
        if isinstance(value, str) and len(value) == 5:
            return value
    return None


def _translate(error: Exception, refuse: Callable[[], ClerkSyncError] | None) -> Exception | None:
    """The error to raise instead of ``error`` (None: re-raise it unchanged), logged without its message."""
    if refuse is not None and is_data_error(error):
        state = _sqlstate(error) if isinstance(error, sa_exc.DBAPIError) else None
        suffix = f", SQLSTATE {state}" if state else ""
        _log.warning("database refused a value (%s%s); nothing written", type(error).__name__, suffix)
        return refuse()
    if not is_unavailable(error):
        return None
    _log.warning("database unavailable: %s", type(error).__name__, exc_info=True)
    return DatabaseUnavailableError(f"database unavailable ({type(error).__name__})")


@asynccontextmanager
async def unavailable_on_failure(
    session: AsyncSession, refuse: Callable[[], ClerkSyncError] | None = None
) -> AsyncIterator[None]:
    """Translate failures raised inside the block, after releasing the session's transaction.

    Availability failures become ``DatabaseUnavailableError``; with ``refuse``, a refused value becomes
    ``refuse()`` (without the driver error chained: its message may quote the value). Anything else, our own
    errors included, passes through unchanged.
    """
    try:
        yield
    except ClerkSyncError:
        raise
    except Exception as error:
        replacement = _translate(error, refuse)
        if replacement is None:
            raise
        with suppress(Exception):  # the transaction is aborted or the connection broken: the error is what matters
            await session.rollback()
        _raise(replacement, error)


@contextmanager
def unavailable_on_failure_sync(session: Session, refuse: Callable[[], ClerkSyncError] | None = None) -> Iterator[None]:
    """``unavailable_on_failure`` for a synchronous ``Session`` (the sync store)."""
    try:
        yield
    except ClerkSyncError:
        raise
    except Exception as error:
        replacement = _translate(error, refuse)
        if replacement is None:
            raise
        with suppress(Exception):
            session.rollback()
        _raise(replacement, error)


def _raise(replacement: Exception, error: Exception) -> NoReturn:
    """An outage keeps its cause for the log; a refusal drops it (the driver's message may quote the value)."""
    if isinstance(replacement, DatabaseUnavailableError):
        raise replacement from error
    raise replacement from None
