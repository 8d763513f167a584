"""``ClerkSyncPlugin`` over real HTTP (uvicorn): registration, dependencies, the guard, one sync per request, the
request session binding, webhooks, readiness, problem+json errors and the OpenAPI security scheme."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from clerk_sync.db import User, create_engine, create_sessionmaker, upgrade
from clerk_sync.issuer import TokenIssuer
from clerk_sync.litestar import ClerkSyncPlugin
from clerk_sync.metrics import REGISTRY
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing import make_user_json, sign_event, sign_webhook
from tests.databases import sqlite_url
from tests.litestar.app import app_session_app, build_app
from tests.litestar.live import live_server

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def base(settings: ClerkSettings, tmp_path: Path) -> Iterator[str]:
    """The test app on SQLite (migrated at start), served by uvicorn."""
    plugin = ClerkSyncPlugin(settings, database_url=sqlite_url(tmp_path), migrate=True)
    with live_server(build_app(plugin)) as url:
        yield url


def bearer(issuer: TokenIssuer, sub: str, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(sub, claims=claims)}"}


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["code"] == code


def syncs() -> float:
    return REGISTRY.get_sample_value("clerk_sync_user_sync_seconds_count") or 0.0


def test_the_plugin_registers_the_routes_and_the_security_scheme(base: str) -> None:
    """Webhook, health and readiness handlers exist, and OpenAPI declares ``ClerkSession`` (HTTP bearer, JWT) and
    puts it on the routes that ask for it, as the FastAPI adapter does."""
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").status_code == 200
    document = httpx.get(f"{base}/schema/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["ClerkSession"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["paths"]["/claims"]["get"]["security"] == [{"ClerkSession": []}]
    assert "/webhooks/clerk" in document["paths"]


def test_paths_set_to_none_leave_the_routes_out(settings: ClerkSettings) -> None:
    """``webhook_path=None`` and friends register nothing at those paths."""
    plugin = ClerkSyncPlugin(settings, webhook_path=None, health_path=None, readiness_path=None)
    with live_server(build_app(plugin)) as url:
        assert httpx.get(f"{url}/healthz").status_code == 404
        assert httpx.post(f"{url}/webhooks/clerk", content=b"{}").status_code == 404


def test_the_guard_refuses_without_a_token_with_a_bearer_challenge(base: str, issuer: TokenIssuer) -> None:
    """No token: 401 problem+json and a bare ``WWW-Authenticate: Bearer``; a bad one adds ``invalid_token``;
    a good one passes."""
    missing = httpx.get(f"{base}/guarded")
    problem(missing, 401, "session-token-missing")
    assert missing.headers["www-authenticate"] == 'Bearer realm="clerk-sync"'
    bad = httpx.get(f"{base}/guarded", headers={"Authorization": "Bearer not-a-jwt"})
    problem(bad, 401, "token-invalid")
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    ok = httpx.get(f"{base}/guarded", headers=bearer(issuer, "user_guarded"))
    assert ok.json() == {"guard": "passed"}


def test_claims_need_no_database(settings: ClerkSettings, issuer: TokenIssuer) -> None:
    """Without a database the ``claims`` dependency still works: it only verifies."""
    with live_server(build_app(ClerkSyncPlugin(settings))) as url:
        response = httpx.get(f"{url}/claims", headers=bearer(issuer, "user_claims_only"))
        assert response.json() == {"sub": "user_claims_only"}
        problem(httpx.get(f"{url}/claims"), 401, "session-token-missing")


def test_guard_dependency_and_claims_share_one_sync(base: str, issuer: TokenIssuer) -> None:
    """A route with the guard, ``current_user`` and ``claims`` syncs the user exactly once per request."""
    headers = bearer(issuer, "user_once", email="once@example.com")
    for _ in range(2):  # the first sight writes, the second is the steady state: one sync each
        before = syncs()
        response = httpx.get(f"{base}/both", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["sub"] == "user_once"
        assert syncs() - before == 1


def test_the_user_is_bound_to_the_request_session(base: str, issuer: TokenIssuer) -> None:
    """``db_session`` holds the synced user, so a change the handler makes commits with that session."""
    response = httpx.post(f"{base}/rename", headers=bearer(issuer, "user_bound", first_name="Ada"))
    assert response.json() == {"bound": True, "first_name": "Renamed"}


@pytest.mark.anyio
async def test_an_app_session_dependency_gets_the_user(settings: ClerkSettings, issuer: TokenIssuer, tmp_path: Path):
    """``app_session=True``: the app provides ``db_session`` (as Advanced Alchemy does) and the user is bound to
    it; clerk-sync registers no session of its own."""
    url = sqlite_url(tmp_path)
    await upgrade(url)
    engine = create_engine(url)
    try:
        plugin = ClerkSyncPlugin(settings, engine=engine, app_session=True)
        with live_server(app_session_app(plugin, create_sessionmaker(engine))) as base:
            async with httpx.AsyncClient() as client:
                response = await client.post(f"{base}/rename", headers=bearer(issuer, "user_app_session"))
        assert response.json() == {"bound": True, "first_name": "Renamed"}
    finally:
        await engine.dispose()


def test_webhook_answers(base: str, secret: str) -> None:
    """Applied (200 ``created``), redelivered (``duplicate``), another type (``ignored``), a forged signature
    (400), a declared or streamed body over the cap (413)."""
    user = make_user_json("user_hook", email="hook@example.com")
    body, signed = sign_event({"type": "user.created", "object": "event", "data": user}, secret)
    first = httpx.post(f"{base}/webhooks/clerk", content=body, headers=signed)
    assert first.json() == {"status": "created", "id": signed["svix-id"], "type": "user.created"}
    again = httpx.post(f"{base}/webhooks/clerk", content=body, headers=signed)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    other, other_headers = sign_event({"type": "session.created", "object": "event", "data": {"id": "s"}}, secret)
    assert httpx.post(f"{base}/webhooks/clerk", content=other, headers=other_headers).json()["status"] == "ignored"
    problem(httpx.post(f"{base}/webhooks/clerk", content=body), 400, "webhook-signature-invalid")
    huge = json.dumps({"type": "user.created", "data": {"pad": "x" * 1_100_000}}).encode()
    problem(
        httpx.post(f"{base}/webhooks/clerk", content=huge, headers=sign_webhook(huge, secret)), 413, "payload-too-large"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while reading
        yield from (huge[i : i + 65536] for i in range(0, len(huge), 65536))

    streamed = httpx.post(f"{base}/webhooks/clerk", content=chunks(), headers=sign_webhook(huge, secret))
    problem(streamed, 413, "payload-too-large")


def test_without_a_secret_webhooks_are_503_and_not_ready(issuer: TokenIssuer, tmp_path: Path) -> None:
    """No signing secret: the webhook route answers 503 (Svix retries) and readiness names the part."""
    settings = ClerkSettings(jwt_key=issuer.public_pem(), _env_file=None)
    plugin = ClerkSyncPlugin(settings, database_url=sqlite_url(tmp_path), migrate=True)
    with live_server(build_app(plugin)) as url:
        response = httpx.post(f"{url}/webhooks/clerk", content=b"{}")
        problem(response, 503, "webhook-signing-secret-missing")
        assert "retry-after" in response.headers
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"signing_keys": "ok", "database": "ok", "webhooks": "not configured"}


def test_all_errors_renders_a_crash_once_with_the_token_redacted(
    settings: ClerkSettings, issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """``all_errors=True``: a crash is a problem+json 500, logged once, with no trace of the request's token;
    the connection keeps serving."""
    token = issuer.mint("user_crash")
    with live_server(build_app(ClerkSyncPlugin(settings, all_errors=True))) as url, httpx.Client() as client:
        with caplog.at_level(logging.ERROR, logger="clerk_sync.http"):
            problem(client.get(f"{url}/crash", headers={"Authorization": f"Bearer {token}"}), 500, "internal-error")
        problem(client.get(f"{url}/nowhere"), 404, "not-found")
    records = [r for r in caplog.records if r.name == "clerk_sync.http" and r.levelno == logging.ERROR]
    assert len(records) == 1
    assert "RuntimeError" in records[0].getMessage()
    assert token not in caplog.text


@pytest.mark.postgres
@pytest.mark.anyio
async def test_concurrent_first_requests_on_postgresql_make_one_row(
    settings: ClerkSettings, issuer: TokenIssuer, postgres_url: str
) -> None:
    """40 simultaneous first requests of one new user on real PostgreSQL: all 200, one id, one row."""
    await upgrade(postgres_url)
    plugin = ClerkSyncPlugin(settings, database_url=postgres_url)
    with live_server(build_app(plugin)) as url:
        async with httpx.AsyncClient(timeout=30) as client:
            import asyncio

            responses = await asyncio.gather(
                *(client.get(f"{url}/both", headers=bearer(issuer, "user_race_pg")) for _ in range(40))
            )
    assert [r.status_code for r in responses] == [200] * 40
    assert len({r.json()["id"] for r in responses}) == 1
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            count = await connection.scalar(
                select(func.count()).select_from(User).where(User.clerk_id == "user_race_pg")
            )
    finally:
        await engine.dispose()
    assert count == 1
