"""Shared fixtures; the token kit's fixtures (``clerk_issuer``, ``clerk_jwks_server``, ``clerk_token``) come from
the package's own pytest plugin, exactly as an app's tests get them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.databases import DATABASE_KINDS, database_url, temporary_postgres_database
from tests.support import ANYIO_BACKEND, Sleeps


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop uvicorn and asyncpg use in production."""
    return ANYIO_BACKEND


@pytest.fixture
def sleeps() -> Sleeps:
    """A ``sleep`` to hand to retrying code: it records the delays asked for and returns at once."""
    return Sleeps()


@pytest.fixture(params=DATABASE_KINDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database per test, once per supported backend (SQLite file, real PostgreSQL)."""
    async with database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped afterwards."""
    async with temporary_postgres_database() as url:
        yield url
