"""Every framework's reference app survives PostgreSQL dropping all its connections (a server restart, a
failover, an idle-connection reaper): no 500, at most one 503 per connection the app held, then 200 again.

The Django project keeps its connections without ``CONN_HEALTH_CHECKS`` (a ``SELECT 1`` per request), so this is
the test that the trade-off it makes holds: a dead connection fails the one request that meets it, answered 503
with ``Retry-After``, and is replaced.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_webhook_secret
from tests.contract.test_http_contract import FRAMEWORKS
from tests.databases import _admin, create_postgres_database, drop_postgres_database, postgres_database_url
from tests.processes import run_cli, service

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_requests_recover_after_the_database_drops_every_connection(framework: str, tmp_path: Path) -> None:
    """Steady-state ``/me`` on keep-alive clients, then ``pg_terminate_backend`` of every connection the app holds:
    the next requests are 200 or 503 with ``Retry-After`` (never 500), the 503s number no more than the app's
    connections, and the app answers 200 again without a restart."""
    name = f"clerk_sync_drop_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_postgres_database(name))
    issuer = TokenIssuer()
    env = {
        "CLERK_JWT_KEY": issuer.public_pem(armor=False),
        "CLERK_WEBHOOK_SIGNING_SECRET": make_webhook_secret(),
        "DATABASE_URL": postgres_database_url(name),
    }
    try:
        upgraded = run_cli("db", "upgrade", "--framework", framework, cwd=tmp_path, env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        headers = {"Authorization": f"Bearer {issuer.mint('user_drop', ttl=600, claims={'email': 'd@example.com'})}"}
        with service(tmp_path, "--framework", framework, env=env) as (base, _process), httpx.Client() as client:
            assert all(client.get(f"{base}/me", headers=headers).status_code == 200 for _ in range(30))
            held = _connections(name)
            assert held >= 1
            asyncio.run(_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            answers = [client.get(f"{base}/me", headers=headers) for _ in range(held + 30)]
        statuses = [answer.status_code for answer in answers]
        assert set(statuses) <= {200, 503}, [(a.status_code, a.text[:300]) for a in answers if a.status_code != 200]
        assert all("retry-after" in answer.headers for answer in answers if answer.status_code == 503)
        assert statuses.count(503) <= held, (held, statuses)
        assert statuses[-20:] == [200] * 20, statuses
    finally:
        asyncio.run(drop_postgres_database(name))


def _connections(name: str) -> int:
    """How many connections the app holds to its database now (the ones the termination will drop)."""

    async def count() -> int:
        import asyncpg

        from tests.databases import POSTGRES_ADMIN_URL

        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            value = await connection.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name)
        finally:
            await connection.close()
        return int(value)

    return asyncio.run(count())
