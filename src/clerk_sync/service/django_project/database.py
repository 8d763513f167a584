"""``DATABASE_URL`` in the SQLAlchemy form the other reference apps read, as a Django ``DATABASES`` entry.

``sqlite+aiosqlite:///./clerk_sync.db`` (any ``sqlite`` driver) is Django's ``sqlite3`` backend on that file;
``postgresql+asyncpg://user:password@host:port/db`` (any ``postgresql`` driver) is Django's ``postgresql``
backend, which speaks psycopg. The driver part is the other apps' concern and is dropped.

Both keep their connections between requests (``CONN_MAX_AGE``): Django's default (``0``) closes the connection at
the end of every request, so each request would open a new one, a TCP handshake and authentication on
PostgreSQL, a file open, ``PRAGMA`` and function registration on SQLite, which cost more than the request's one
indexed read. gthread reuses its threads, and Django keeps one connection per thread, so a worker holds at most
``THREADS`` connections.

``CONN_HEALTH_CHECKS`` stays off: on PostgreSQL it is a ``SELECT 1`` round trip at the start of every request
(40% of a loaded worker's samples in ``bench.profile --framework django --db postgresql``, and 0.52x -> 0.73x of
the SDK peer without it). Without it, a connection that died (the server restarted) fails the one request that
uses it next, which clerk-sync answers 503 with ``Retry-After``, and Django drops it when that request ends.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from clerk_sync.errors import ConfigurationError

__all__ = ["database_from_url", "is_embedded"]

#: A thread keeps its connection between requests for up to a minute, checked before each reuse.
_PERSISTENT: dict[str, Any] = {"CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": False}


def is_embedded(url: str) -> bool:
    """The SQLite default migrates itself at start; a server database is upgraded by ``db upgrade``."""
    return url.partition(":")[0].partition("+")[0] == "sqlite"


def database_from_url(url: str) -> dict[str, Any]:
    """The ``DATABASES["default"]`` entry for ``url``; a ``ConfigurationError`` naming the variable otherwise."""
    parts = urlsplit(url)
    backend = parts.scheme.partition("+")[0]
    if backend == "sqlite":
        name = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not name or name == ":memory:":
            raise ConfigurationError("DATABASE_URL: the Django service needs an SQLite file, not :memory:")
        # Threads and worker processes write at once: wait for SQLite's lock instead of failing, and take the
        # write lock when a transaction starts, so two writers never deadlock upgrading a read lock.
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(name),
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
            **_PERSISTENT,
        }
    if backend in ("postgresql", "postgres"):
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            **_PERSISTENT,
        }
    raise ConfigurationError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use sqlite or postgresql)")
