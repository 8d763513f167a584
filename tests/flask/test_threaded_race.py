"""Many threads racing on one new user under a real threaded WSGI server (gunicorn's gthread worker, started by
``clerk-sync serve --framework flask``) on real PostgreSQL: every request answers the same row, and the table
holds exactly one row for that user."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from clerk_sync.issuer import TokenIssuer
from clerk_sync.service.flask_server import THREADS
from tests.databases import create_postgres_database, drop_postgres_database, postgres_database_url
from tests.processes import run_cli, service

BURST = 64


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database's URL, dropped afterwards."""
    name = f"clerk_sync_flask_race_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_postgres_database(name))
    try:
        yield postgres_database_url(name)
    finally:
        asyncio.run(drop_postgres_database(name))


async def _rows(url: str, clerk_id: str) -> int:
    connection = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM users WHERE clerk_id = $1", clerk_id)
        return count
    finally:
        await connection.close()


@pytest.mark.postgres
def test_concurrent_first_requests_on_threads_make_one_row(
    database: str, tmp_path: Path, clerk_issuer: TokenIssuer
) -> None:
    """64 simultaneous first requests of one new user, more than the worker's threads, on distinct connections:
    all 200 with one id, and one row in ``users``."""
    assert BURST > THREADS
    env = {"CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False), "DATABASE_URL": database}
    upgraded = run_cli("db", "upgrade", "--framework", "flask", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr

    async def burst(base: str) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=BURST)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            tokens = [clerk_issuer.mint("user_flask_race", claims={"email": "race@example.com"}) for _ in range(BURST)]
            return await asyncio.gather(
                *(client.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"}) for token in tokens)
            )

    with service(tmp_path, "--framework", "flask", env=env) as (base, _process):
        responses = asyncio.run(burst(base))
    assert [r.status_code for r in responses] == [200] * BURST, [r.text for r in responses if r.status_code != 200]
    assert len({r.json()["id"] for r in responses}) == 1
    assert asyncio.run(_rows(database, "user_flask_race")) == 1
