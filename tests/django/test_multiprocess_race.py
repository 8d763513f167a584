"""``clerk-sync serve --framework django --workers 3`` on one PostgreSQL: 64 concurrent first requests for 8 new
users, spread over three processes, make exactly one row per user (the guarded upsert, across processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from clerk_sync.issuer import TokenIssuer
from tests.databases import create_postgres_database, drop_postgres_database, postgres_database_url
from tests.processes import run_cli, service

pytestmark = pytest.mark.postgres

USERS = 8
PER_USER = 8


def test_three_workers_race_first_requests_into_one_row_each(tmp_path: Path) -> None:
    """64 simultaneous first requests (8 users x 8) against 3 gunicorn workers: every one is 200, each user has
    one id in every answer, and the table holds exactly one row per user."""
    name = f"clerk_sync_django_race_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_postgres_database(name))
    try:
        url = postgres_database_url(name)
        issuer = TokenIssuer()
        env = {"CLERK_JWT_KEY": issuer.public_pem(armor=False), "DATABASE_URL": url}
        upgraded = run_cli("db", "upgrade", "--framework", "django", cwd=tmp_path, env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        with service(tmp_path, "--framework", "django", "--workers", "3", "--no-access-log", env=env) as (base, _):
            subs = [f"user_race_{index}" for index in range(USERS) for _ in range(PER_USER)]

            async def burst() -> list[httpx.Response]:
                limits = httpx.Limits(max_connections=64)
                async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                    return await asyncio.gather(
                        *(
                            client.get(f"{base}/me", headers={"Authorization": f"Bearer {issuer.mint(sub)}"})
                            for sub in subs
                        )
                    )

            responses = asyncio.run(burst())
        assert [r.status_code for r in responses] == [200] * len(subs), [r.text for r in responses if r.is_error]
        ids: dict[str, set[int]] = {}
        for response in responses:
            body = response.json()
            ids.setdefault(body["clerk_id"], set()).add(body["id"])
        assert {sub: len(found) for sub, found in ids.items()} == {f"user_race_{i}": 1 for i in range(USERS)}
        parts = make_url(url)
        with psycopg.connect(
            host=parts.host, port=parts.port, user=parts.username, password=parts.password or "", dbname=name
        ) as connection:
            rows = connection.execute("SELECT clerk_id FROM users WHERE clerk_id LIKE 'user_race_%'").fetchall()
        assert Counter(row[0] for row in rows) == Counter({f"user_race_{i}": 1 for i in range(USERS)})
    finally:
        asyncio.run(drop_postgres_database(name))
