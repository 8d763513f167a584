"""The peers ``bench.compare`` measures clerk-sync against do their job: a fair comparison needs apps that really
authenticate. Each runs on the server its framework's reference app uses (``bench.framework_servers``), on a real
SQLite file migrated as the benchmark migrates it, and answers a real signed token over HTTP."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bench.compare import CLAIMS, FRAMEWORK_APPS, ME, bench_env, migrate
from bench.framework_servers import serve

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import JwksServer
from tests.databases import sqlite_url

#: Every peer that authenticates (the FastAPI no-auth ceiling has nothing to refuse), by framework and label.
PEERS = [
    pytest.param((framework, label), id=f"{framework}-{label.split(')')[0].strip('(')}")
    for framework, apps in FRAMEWORK_APPS.items()
    for label, app in apps.items()
    if app.target.startswith("bench.") or "bench." in str(app.env)
    if "no auth" not in label
]
assert len(PEERS) == 9  # fastapi (a), (b), (c); (a) and (b) for each of django, flask, litestar


@pytest.fixture
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, TokenIssuer, int]]:
    framework, label = request.param
    app = FRAMEWORK_APPS[framework][label]
    issuer = TokenIssuer()
    url = sqlite_url(tmp_path)
    with JwksServer(issuer) as jwks:
        env = bench_env(url, issuer, jwks.url)
        migrate(framework, url, env, tmp_path)
        process, base = serve(framework, app, env, tmp_path)
        try:
            # fastapi-clerk-auth refuses with 403 (its HTTPBearer's answer); every peer written here with 401.
            yield (
                f"{base}{app.path}",
                issuer,
                403 if "fastapi-clerk-auth" in label or "hand-written verify" in label else 401,
            )
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.parametrize("served", PEERS, indirect=True)
def test_peer_accepts_a_valid_token_and_refuses_a_foreign_one(served: tuple[str, TokenIssuer, int]) -> None:
    """A token the bench's key signed gets 200 with the caller's clerk_id (twice: first sight, then the steady
    state the benchmark measures); one signed by another key is refused (401; 403 from fastapi-clerk-auth)."""
    url, issuer, refusal = served
    token = issuer.mint("user_peer", ttl=600, claims=CLAIMS)
    for _ in range(2):
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["clerk_id"] == "user_peer"
    foreign = TokenIssuer().mint("user_peer", ttl=600, claims=CLAIMS)
    assert httpx.get(url, headers={"Authorization": f"Bearer {foreign}"}).status_code == refusal


def test_every_framework_compares_clerk_sync_with_both_peers() -> None:
    """Each framework's table has clerk-sync's /me and, outside FastAPI, exactly the two peers the issues name."""
    for framework, apps in FRAMEWORK_APPS.items():
        assert ME in apps
        if framework != "fastapi":
            assert len(apps) == 3
