"""Integration: POST /webhooks/clerk over HTTP into the reference service, on SQLite and real PostgreSQL.

Every refusal must leave both tables untouched; every accepted delivery must apply exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from clerk_sync.db import ProcessedWebhook, User
from clerk_sync.issuer import TokenIssuer
from clerk_sync.service import ServiceSettings, create_app
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event, sign_webhook
from tests.asgi import serving
from tests.databases import temporary_postgres_database
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio

SECRET = make_webhook_secret()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@asynccontextmanager
async def service(
    url: str, issuer: TokenIssuer, secret: str | None = SECRET
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    from clerk_sync.db import upgrade

    await upgrade(url)
    settings = ClerkSettings(jwt_key=issuer.public_pem(), webhook_signing_secret=secret)
    app = create_app(ServiceSettings(database_url=url), settings)
    async with serving(app) as client:
        yield client, app


async def counts(app: FastAPI) -> tuple[int, int]:
    database = app.state.clerk_sync.store
    async with database.sessionmaker() as session:
        users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
        ledger = (await session.execute(select(func.count()).select_from(ProcessedWebhook))).scalar_one()
        return int(users), int(ledger)


async def stored(app: FastAPI, clerk_id: str) -> User:
    database = app.state.clerk_sync.store
    async with database.sessionmaker() as session:
        user: User = (await session.execute(select(User).where(User.clerk_id == clerk_id))).scalar_one()
        return user


def event(kind: str, user: dict[str, Any], *, timestamp: int | None = None) -> dict[str, Any]:
    data = {"id": user["id"], "object": "user", "deleted": True} if kind == "user.deleted" else user
    return {
        "type": kind,
        "object": "event",
        "instance_id": "ins_test",
        "data": data,
        "timestamp": timestamp if timestamp is not None else user.get("updated_at", int(time.time() * 1000)),
        "event_attributes": {"http_request": {"client_ip": "127.0.0.1", "user_agent": "test"}},
    }


async def post(client: httpx.AsyncClient, payload: dict[str, Any], **kwargs: Any) -> httpx.Response:
    body, headers = sign_event(payload, SECRET, **kwargs)
    return await client.post("/webhooks/clerk", content=body, headers=headers)


async def test_clerk_fixtures_apply(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """Clerk's documented user.created / user.updated / user.deleted samples apply in order."""
    async with service(db_url, clerk_issuer) as (client, app):
        created = json.loads((FIXTURES / "user.created.json").read_text())
        updated = json.loads((FIXTURES / "user.updated.json").read_text())
        assert (await post(client, created)).json()["status"] == "created"
        row = await stored(app, "user_29w83sxmDNGwOuEthce5gg56FcC")
        assert (row.email, row.first_name, row.last_name) == ("example@example.org", "Example", "Example")
        assert (await post(client, updated)).json()["status"] == "updated"
        row = await stored(app, "user_29w83sxmDNGwOuEthce5gg56FcC")
        assert row.last_name is None
        assert row.clerk_version == 1654012824306
        deleted = json.loads((FIXTURES / "user.deleted.json").read_text())
        assert (await post(client, deleted)).json()["status"] == "deleted"
        assert (await stored(app, "user_29wBMCtzATuFJut8jO2VNTVekS4")).deleted_at is not None


async def test_known_answer_vector_signature_is_accepted(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """The Standard Webhooks vector passes the signature check over HTTP; its body is no Clerk event, so the
    route answers 400 webhook-payload-invalid (not signature-invalid) and writes nothing."""
    async with service(db_url, clerk_issuer, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") as (client, app):
        # The vector's timestamp is from 2021: outside the 5-minute window, as it must be.
        headers = {
            "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "svix-timestamp": "1614265330",
            "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        }
        stale = await client.post("/webhooks/clerk", content=b'{"test": 2432232314}', headers=headers)
        assert stale.status_code == 400
        assert stale.json()["code"] == "webhook-signature-invalid"
        fresh = sign_webhook(
            b'{"test": 2432232314}', "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id=headers["svix-id"]
        )
        response = await client.post("/webhooks/clerk", content=b'{"test": 2432232314}', headers=fresh)
        assert response.status_code == 400
        assert response.json()["code"] == "webhook-payload-invalid"
        assert await counts(app) == (0, 0)


def _bad_inputs() -> list[tuple[str, int, str]]:
    return [
        ("missing-headers", 400, "webhook-signature-invalid"),
        ("wrong-signature", 400, "webhook-signature-invalid"),
        ("other-secret", 400, "webhook-signature-invalid"),
        ("too-old", 400, "webhook-signature-invalid"),
        ("too-new", 400, "webhook-signature-invalid"),
        ("junk-json", 400, "webhook-payload-invalid"),
        ("array-json", 400, "webhook-payload-invalid"),
        ("no-user-id", 400, "webhook-payload-invalid"),
        ("tampered-body", 400, "webhook-signature-invalid"),
        ("oversized", 413, "payload-too-large"),
    ]


@pytest.mark.parametrize(("case", "status", "code"), _bad_inputs())
async def test_bad_inputs_are_refused_and_write_nothing(
    db_url: str, clerk_issuer: TokenIssuer, case: str, status: int, code: str
) -> None:
    """Each bad delivery gets its status and problem code, and neither table gains a row."""
    user = make_user_json("user_bad")
    body, headers = sign_event(event("user.created", user), SECRET)
    now = int(time.time())
    match case:
        case "missing-headers":
            headers = {}
        case "wrong-signature":
            headers["svix-signature"] = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1,not-base64!"
        case "other-secret":
            headers = sign_webhook(body, make_webhook_secret())
        case "too-old":
            headers = sign_webhook(body, SECRET, timestamp=now - 301)
        case "too-new":
            headers = sign_webhook(body, SECRET, timestamp=now + 360)  # well past the window: app start-up takes time
        case "junk-json":
            body = b"{not json"
            headers = sign_webhook(body, SECRET)
        case "array-json":
            body = b"[1, 2]"
            headers = sign_webhook(body, SECRET)
        case "no-user-id":
            body, headers = sign_event({"type": "user.created", "object": "event", "data": {"object": "user"}}, SECRET)
        case "tampered-body":
            body = body.replace(b"user_bad", b"user_evil")
        case "oversized":
            body = b'{"type": "user.created", "data": {"pad": "' + b"x" * (1024 * 1024) + b'"}}'
            headers = sign_webhook(body, SECRET)
    async with service(db_url, clerk_issuer) as (client, app):
        response = await client.post("/webhooks/clerk", content=body, headers=headers)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code
        assert await counts(app) == (0, 0)


async def test_no_secret_configured_is_503_and_writes_nothing(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """Without CLERK_WEBHOOK_SIGNING_SECRET the route never accepts events: 503, so Svix keeps retrying."""
    async with service(db_url, clerk_issuer, secret=None) as (client, app):
        body, headers = sign_event(event("user.created", make_user_json("user_unsigned")), SECRET)
        response = await client.post("/webhooks/clerk", content=body, headers=headers)
        assert response.status_code == 503
        assert response.json()["code"] == "webhook-signing-secret-missing"
        assert "retry-after" in response.headers
        assert await counts(app) == (0, 0)


async def test_standard_webhook_header_names_and_rotated_signatures(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """webhook-* header names work, and one valid signature among several (secret rotation) is enough."""
    async with service(db_url, clerk_issuer) as (client, app):
        body, _ = sign_event(event("user.created", make_user_json("user_std")), SECRET)
        headers = sign_webhook(body, SECRET, header_prefix="webhook")
        old = sign_webhook(
            body, make_webhook_secret(), msg_id=headers["webhook-id"], timestamp=int(headers["webhook-timestamp"])
        )
        headers["webhook-signature"] = f"{old['svix-signature']} v2,whatever {headers['webhook-signature']}"
        response = await client.post("/webhooks/clerk", content=body, headers=headers)
        assert response.status_code == 200
        assert response.json()["status"] == "created"
        assert await counts(app) == (1, 1)


async def test_duplicate_delivery_applies_once(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """The same svix-id delivered three times (even concurrently) is applied once and answered 2xx each time."""
    async with service(db_url, clerk_issuer) as (client, app):
        body, headers = sign_event(event("user.created", make_user_json("user_dup")), SECRET, msg_id="msg_dup")
        responses = await asyncio.gather(
            *(client.post("/webhooks/clerk", content=body, headers=headers) for _ in range(3))
        )
        assert [r.status_code for r in responses] == [200, 200, 200]
        assert sorted(r.json()["status"] for r in responses) == ["created", "duplicate", "duplicate"]
        assert await counts(app) == (1, 1)


async def test_ignored_types_are_2xx_and_write_no_user(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """Event types we do not sync are acknowledged so Svix stops retrying."""
    async with service(db_url, clerk_issuer) as (client, app):
        response = await post(client, {"type": "session.created", "object": "event", "data": {"id": "sess_1"}})
        assert response.status_code == 200
        assert response.json()["status"] == "ignored"
        assert (await counts(app))[0] == 0


@pytest.mark.parametrize("order", list(itertools.permutations(["user.created", "user.updated", "user.deleted"])))
async def test_out_of_order_delivery_converges_to_deleted(
    db_url: str, clerk_issuer: TokenIssuer, order: tuple[str, ...]
) -> None:
    """Any order of created/updated/deleted ends as one tombstoned row; a late update never resurrects it."""
    base = 1_700_000_000_000
    created = make_user_json("user_perm", first_name="Created", created_at=base, updated_at=base)
    updated = {**created, "first_name": "Updated", "updated_at": base + 1000}
    events = {
        "user.created": event("user.created", created),
        "user.updated": event("user.updated", updated),
        "user.deleted": event("user.deleted", created, timestamp=base + 2000),
    }
    async with service(db_url, clerk_issuer) as (client, app):
        for kind in order:
            assert (await post(client, events[kind])).status_code == 200
        row = await stored(app, "user_perm")
        assert row.deleted_at is not None
        assert await counts(app) == (1, 3)


@pytest.mark.parametrize("order", [("user.created", "user.updated"), ("user.updated", "user.created")])
async def test_out_of_order_updates_converge_to_newest(
    db_url: str, clerk_issuer: TokenIssuer, order: tuple[str, ...]
) -> None:
    """created(v1) and updated(v2) in either order end with v2's fields."""
    base = 1_700_000_000_000
    v1 = make_user_json("user_ord", email="v1@example.com", first_name="One", created_at=base, updated_at=base)
    v2 = {**make_user_json("user_ord", email="v2@example.com", first_name="Two", created_at=base, updated_at=base + 5)}
    events = {"user.created": event("user.created", v1), "user.updated": event("user.updated", v2)}
    async with service(db_url, clerk_issuer) as (client, app):
        for kind in order:
            assert (await post(client, events[kind])).status_code == 200
        row = await stored(app, "user_ord")
        assert (row.email, row.first_name, row.clerk_version) == ("v2@example.com", "Two", base + 5)


async def test_request_racing_webhook_makes_one_row(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """A first request and the user.created webhook for the same new user, concurrently: one row each time."""
    async with service(db_url, clerk_issuer) as (client, app):
        for n in range(20):
            sub = f"user_race_{n}"
            user = make_user_json(sub, email=f"{sub}@example.com")
            token = clerk_issuer.mint(sub, claims={"email": f"{sub}@example.com"})
            me, hook = await asyncio.gather(
                client.get("/me", headers={"Authorization": f"Bearer {token}"}),
                post(client, event("user.created", user)),
            )
            assert me.status_code == 200, me.text
            assert hook.status_code == 200, hook.text
        assert (await counts(app))[0] == 20


async def test_deleted_users_token_is_refused(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """After user.deleted, the user's (still valid) token gets 401 user-deleted."""
    async with service(db_url, clerk_issuer) as (client, _):
        token = clerk_issuer.mint("user_del")
        assert (await client.get("/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
        assert (
            await post(client, event("user.deleted", {"id": "user_del"}, timestamp=int(time.time() * 1000)))
        ).status_code == 200
        response = await client.get("/me", headers={"Authorization": f"Bearer {clerk_issuer.mint('user_del')}"})
        assert response.status_code == 401
        assert response.json()["code"] == "user-deleted"


async def test_readyz_reports_last_webhook_age(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """/readyz says when the last webhook was processed."""
    async with service(db_url, clerk_issuer) as (client, _):
        assert (await client.get("/readyz")).json()["last_webhook_age_s"] is None
        await post(client, event("user.created", make_user_json("user_ready")))
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ok"
        assert 0 <= ready["last_webhook_age_s"] < 60


@pytest.mark.postgres
async def test_database_failure_is_5xx_then_retry_applies(clerk_issuer: TokenIssuer) -> None:
    """PostgreSQL unreachable mid-event: 503 and nothing recorded; Svix's retry (same svix-id) then applies."""
    proxy = await TcpProxy().start()
    try:
        async with temporary_postgres_database() as direct:
            url = make_url(direct).set(port=proxy.port).render_as_string(hide_password=False)
            async with service(url, clerk_issuer) as (client, app):
                body, headers = sign_event(
                    event("user.created", make_user_json("user_retry")), SECRET, msg_id="msg_retry"
                )
                await proxy.cut()
                failed = await client.post("/webhooks/clerk", content=body, headers=headers)
                assert failed.status_code == 503
                assert failed.json()["code"] == "database-unavailable"
                ready = await client.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["database"] == "unavailable"
                await proxy.restore()
                assert (await client.get("/readyz")).status_code == 200
                assert await counts(app) == (0, 0)
                retried = await client.post("/webhooks/clerk", content=body, headers=headers)
                assert retried.status_code == 200
                assert retried.json()["status"] == "created"
                assert await counts(app) == (1, 1)
    finally:
        await proxy.cut()


async def test_sqlite_lock_timeout_is_5xx_then_retry_applies(
    tmp_path: Path, clerk_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite locked by another writer past busy_timeout: 503 and nothing recorded; the retry applies."""
    import sqlite3

    monkeypatch.setattr("clerk_sync.db.engine.SQLITE_BUSY_TIMEOUT_MS", 200)
    url = f"sqlite+aiosqlite:///{tmp_path}/lock.db"
    async with service(url, clerk_issuer) as (client, app):
        body, headers = sign_event(event("user.created", make_user_json("user_locked")), SECRET, msg_id="msg_locked")
        blocker = sqlite3.connect(tmp_path / "lock.db", isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            failed = await client.post("/webhooks/clerk", content=body, headers=headers)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert failed.status_code == 503
        assert failed.json()["code"] == "database-unavailable"
        assert await counts(app) == (0, 0)
        retried = await client.post("/webhooks/clerk", content=body, headers=headers)
        assert retried.status_code == 200
        assert await counts(app) == (1, 1)
