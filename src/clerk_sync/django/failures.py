"""Sort Django's database errors into the two kinds a caller can act on: the database is down, or it refused
a value (the Django twin of ``clerk_sync.db.failures``).

"Down" (``OperationalError``, ``InterfaceError``: refused connections, a dropped server, SQLite's lock wait
running out) becomes ``DatabaseUnavailableError``, a 503 to retry later. "Refused" (``DataError``, an
``IntegrityError`` of the app's own constraints: the ``clerk_id`` conflict is handled by ``ON CONFLICT``) is the
data's fault, so it becomes the source's refusal (``clerk_sync.profile.refusal``), never an outage or a 500.
Neither repeats the driver's message: it can quote the refused value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DataError, IntegrityError, InterfaceError, OperationalError, ProgrammingError

from clerk_sync.errors import ClerkSyncError, DatabaseUnavailableError
from clerk_sync.profile import Source, refusal

__all__ = ["translate_failures"]

_log = logging.getLogger("clerk_sync.django.store")

#: sqlite3 raises these unwrapped while binding: an int beyond 64 bits, a str with a lone surrogate.
_BINDING_ERRORS = (OverflowError, UnicodeEncodeError)


@contextmanager
def translate_failures(source: Source | None = None) -> Iterator[None]:
    """Translate failures raised inside the block; ``source`` names who sent the data (None: a read).

    Our own errors pass through unchanged, and so does anything that is neither kind (a bug stays loud).
    """
    try:
        yield
    except ClerkSyncError:
        raise
    except (OperationalError, InterfaceError) as error:
        _log.warning("database unavailable: %s", type(error).__name__)
        raise DatabaseUnavailableError(f"database unavailable ({type(error).__name__})") from error
    except (DataError, IntegrityError, ProgrammingError, *_BINDING_ERRORS) as error:
        if source is None or (isinstance(error, ProgrammingError) and not _binding_error(error)):
            raise
        _log.warning("database refused a value (%s); nothing written", type(error).__name__)
        raise refusal(source, None, "holds a value the database refused") from None


def _binding_error(error: ProgrammingError) -> bool:
    """sqlite3 (3.11+) reports a value of a type it cannot bind as a ProgrammingError, not a DataError."""
    return str(error).startswith("Error binding parameter")
