"""End to end: three real `clerk-sync serve` processes sharing one PostgreSQL database.

The unique constraint plus ON CONFLICT, not any in-process lock, is what keeps one row per Clerk user; the first
test proves it across processes, the way a multi-worker deployment runs. The second proves that no process
serves a copy of its own: a change applied by one is what the others answer next.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event
from tests.processes import run_cli, service

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


async def test_three_processes_one_row_per_user(tmp_path: Path, postgres_url: str, clerk_issuer: TokenIssuer) -> None:
    """64 concurrent first requests per new user, spread over 3 processes: one id, one row, no error."""
    env = {"DATABASE_URL": postgres_url, "CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False)}
    upgraded = run_cli("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    with ExitStack() as stack:
        bases = [stack.enter_context(service(tmp_path, env=env))[0] for _ in range(3)]
        async with httpx.AsyncClient(timeout=30) as client:
            for n in range(5):
                sub = f"user_multi_{n}"
                tokens = [clerk_issuer.mint(sub, claims={"email": f"{sub}@example.com"}) for _ in range(64)]
                responses = await asyncio.gather(
                    *(
                        client.get(f"{bases[i % 3]}/me", headers={"Authorization": f"Bearer {token}"})
                        for i, token in enumerate(tokens)
                    )
                )
                assert [r.status_code for r in responses] == [200] * 64, [
                    r.text for r in responses if r.status_code != 200
                ]
                assert len({r.json()["id"] for r in responses}) == 1
    dsn = make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT clerk_id, count(*) AS n FROM users GROUP BY clerk_id ORDER BY clerk_id")
    finally:
        await connection.close()
    assert [(row["clerk_id"], row["n"]) for row in rows] == [(f"user_multi_{n}", 1) for n in range(5)]


async def test_a_webhook_on_one_process_is_seen_by_the_others_next_request(
    tmp_path: Path, postgres_url: str, clerk_issuer: TokenIssuer
) -> None:
    """Each process reads the row on every request (no per-process copy): an update or a deletion applied by
    one process is what the other processes' very next request sees."""
    secret = make_webhook_secret()
    env = {
        "DATABASE_URL": postgres_url,
        "CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False),
        "CLERK_WEBHOOK_SIGNING_SECRET": secret,
    }
    upgraded = run_cli("db", "upgrade", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    token = clerk_issuer.mint("user_shared", claims={"email": "old@example.com"})
    headers = {"Authorization": f"Bearer {token}"}
    with ExitStack() as stack:
        writer, *readers = [stack.enter_context(service(tmp_path, env=env))[0] for _ in range(3)]
        async with httpx.AsyncClient(timeout=30) as client:
            for base in (writer, *readers, *readers):  # every process has served the steady state
                assert (await client.get(f"{base}/me", headers=headers)).json()["email"] == "old@example.com"
            newer = int(time.time() * 1000) + 60_000  # edited in Clerk after the token was issued
            user = make_user_json("user_shared", email="new@example.com", updated_at=newer)
            body, signed = sign_event({"type": "user.updated", "object": "event", "data": user}, secret)
            assert (await client.post(f"{writer}/webhooks/clerk", content=body, headers=signed)).status_code == 200
            for base in readers:
                assert (await client.get(f"{base}/me", headers=headers)).json()["email"] == "new@example.com"
            deleted = {"id": "user_shared", "object": "user", "deleted": True}
            body, signed = sign_event(
                {"type": "user.deleted", "object": "event", "data": deleted, "timestamp": newer + 1}, secret
            )
            assert (await client.post(f"{writer}/webhooks/clerk", content=body, headers=signed)).status_code == 200
            for base in readers:
                refused = await client.get(f"{base}/me", headers=headers)
                assert refused.status_code == 401
                assert refused.json()["code"] == "user-deleted"
