"""The HTTP contract every framework's reference app serves, black-box: a real ``clerk-sync serve`` process.

One suite, parametrised by framework and database, so an adapter cannot drift from the others: the same routes,
statuses, problem+json codes and headers, the same ``/me`` document, the same webhook answers, on the same
default schema. An adapter joins by adding its name to ``FRAMEWORKS``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event, sign_webhook
from tests.databases import create_postgres_database, drop_postgres_database, postgres_database_url, sqlite_url
from tests.processes import run_cli, service

#: Every framework with a reference app behind ``clerk-sync serve --framework NAME``.
FRAMEWORKS = ["fastapi", "django", "flask", "litestar"]


PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Served:
    """A running reference app and what its clients need: the issuer it trusts and its webhook secret."""

    base: str
    framework: str
    issuer: TokenIssuer
    secret: str

    def bearer(self, sub: str, **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.mint(sub, claims=claims)}"}


#: (framework, database) pairs, each a module-scoped server.
SERVED = [
    pytest.param((framework, kind), id=f"{framework}-{kind}", marks=marks)
    for framework in FRAMEWORKS
    for kind, marks in (("sqlite", ()), ("postgresql", (pytest.mark.postgres,)))
]


@pytest.fixture(scope="module", params=SERVED)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One app per framework and database for the whole module (starting a server is the slow part)."""
    framework, kind = request.param
    directory = tmp_path_factory.mktemp(f"{framework}-{kind}")
    issuer = TokenIssuer()
    secret = make_webhook_secret()
    env = {"CLERK_JWT_KEY": issuer.public_pem(armor=False), "CLERK_WEBHOOK_SIGNING_SECRET": secret}

    def serve(url: str) -> Iterator[Served]:
        env["DATABASE_URL"] = url
        if kind == "postgresql":  # only the embedded SQLite default migrates itself at start
            upgraded = run_cli("db", "upgrade", "--framework", framework, cwd=directory, env=env)
            assert upgraded.returncode == 0, upgraded.stderr
        with service(directory, "--framework", framework, env=env) as (base, _process):
            yield Served(base, framework, issuer, secret)

    if kind == "sqlite":
        yield from serve(sqlite_url(directory))
        return
    name = f"clerk_sync_contract_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_postgres_database(name))
    try:
        yield from serve(postgres_database_url(name))
    finally:
        asyncio.run(drop_postgres_database(name))


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, object] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    return body


def _event(kind: str, data: dict[str, object], **envelope: object) -> dict[str, object]:
    return {"type": kind, "object": "event", "data": data, **envelope}


def test_me_without_a_token_is_a_bearer_challenge(served: Served) -> None:
    """No token: 401 ``session-token-missing`` with a bare ``WWW-Authenticate: Bearer`` (RFC 6750: no error
    attribute when no credential was sent), never a redirect to a login page."""
    response = httpx.get(f"{served.base}/me", follow_redirects=False)
    _problem(response, 401, "session-token-missing")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert "invalid_token" not in challenge


@pytest.mark.parametrize(
    ("token", "code"),
    [("not-a-jwt", "token-invalid"), ("a.b.c", "token-invalid")],
)
def test_a_malformed_token_is_refused_with_clerks_reason(served: Served, token: str, code: str) -> None:
    """A token that does not parse is 401 with Clerk's reason and ``error="invalid_token"``."""
    response = httpx.get(f"{served.base}/me", headers={"Authorization": f"Bearer {token}"})
    _problem(response, 401, code)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_an_expired_or_foreign_token_is_refused(served: Served) -> None:
    """Expiry and a signature by another key are told apart by code, as Clerk's verifier does."""
    expired = served.issuer.mint("user_expired", now=time.time() - 600)
    _problem(httpx.get(f"{served.base}/me", headers={"Authorization": f"Bearer {expired}"}), 401, "token-expired")
    foreign = TokenIssuer().mint("user_foreign")
    response = httpx.get(f"{served.base}/me", headers={"Authorization": f"Bearer {foreign}"})
    _problem(response, 401, "token-invalid-signature")


def test_me_creates_the_user_once_and_answers_the_contract_document(served: Served) -> None:
    """The first request creates the row from the token's claims; the next ones answer the same id."""
    headers = served.bearer("user_contract_me", email="me@example.com", first_name="Ada", last_name="Lovelace")
    first = httpx.get(f"{served.base}/me", headers=headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {
        "id",
        "clerk_id",
        "email",
        "first_name",
        "last_name",
        "image_url",
        "public_metadata",
        "created_at",
        "updated_at",
    }
    assert (body["clerk_id"], body["email"], body["first_name"], body["last_name"]) == (
        "user_contract_me",
        "me@example.com",
        "Ada",
        "Lovelace",
    )
    assert body["public_metadata"] == {}
    assert isinstance(body["id"], int)
    again = httpx.get(f"{served.base}/me", headers=headers).json()
    assert again == body


def test_concurrent_first_requests_make_one_row(served: Served) -> None:
    """32 simultaneous first requests of one new user (many connections at once): one id for all of them."""

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=30) as client:
            tokens = [served.issuer.mint("user_contract_race", claims={"email": "race@example.com"}) for _ in range(32)]
            return await asyncio.gather(
                *(client.get(f"{served.base}/me", headers={"Authorization": f"Bearer {t}"}) for t in tokens)
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * 32, [r.text for r in responses if r.status_code != 200]
    assert len({r.json()["id"] for r in responses}) == 1


def test_webhooks_apply_once_and_order_by_version(served: Served) -> None:
    """A signed update is applied (200 ``updated``), its redelivery is a 200 ``duplicate``, an older event is
    ``stale``, and ``/me`` shows the newest data."""
    headers = served.bearer("user_contract_hook", email="old@example.com")
    assert httpx.get(f"{served.base}/me", headers=headers).status_code == 200
    newer = int(time.time() * 1000) + 60_000
    user = make_user_json("user_contract_hook", email="new@example.com", updated_at=newer)
    body, signed = sign_event(_event("user.updated", user), served.secret)
    first = httpx.post(f"{served.base}/webhooks/clerk", content=body, headers=signed)
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "updated", "id": signed["svix-id"], "type": "user.updated"}
    again = httpx.post(f"{served.base}/webhooks/clerk", content=body, headers=signed)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    older = make_user_json("user_contract_hook", email="older@example.com", updated_at=newer - 30_000)
    body, signed = sign_event(_event("user.updated", older), served.secret)
    stale = httpx.post(f"{served.base}/webhooks/clerk", content=body, headers=signed)
    assert (stale.status_code, stale.json()["status"]) == (200, "stale")
    assert httpx.get(f"{served.base}/me", headers=headers).json()["email"] == "new@example.com"


def test_a_deleted_user_is_refused_and_never_resurrected(served: Served) -> None:
    """``user.deleted`` tombstones the row: the user's tokens get 401 ``user-deleted``, even fresh ones."""
    headers = served.bearer("user_contract_gone", email="gone@example.com")
    assert httpx.get(f"{served.base}/me", headers=headers).status_code == 200
    deleted = {"id": "user_contract_gone", "object": "user", "deleted": True}
    body, signed = sign_event(_event("user.deleted", deleted, timestamp=int(time.time() * 1000)), served.secret)
    response = httpx.post(f"{served.base}/webhooks/clerk", content=body, headers=signed)
    assert (response.status_code, response.json()["status"]) == (200, "deleted")
    _problem(httpx.get(f"{served.base}/me", headers=served.bearer("user_contract_gone")), 401, "user-deleted")


def test_webhook_refusals(served: Served) -> None:
    """A forged or unsigned body is 400 ``webhook-signature-invalid`` (nothing written), a signed body that is
    not an event is 400 ``webhook-payload-invalid``, an unknown type is a 200 ``ignored``, an oversized body 413."""
    user = make_user_json("user_contract_forged", email="x@example.com")
    body, signed = sign_event(_event("user.created", user), served.secret)
    forged = httpx.post(f"{served.base}/webhooks/clerk", content=body, headers=sign_event({}, make_webhook_secret())[1])
    _problem(forged, 400, "webhook-signature-invalid")
    _problem(httpx.post(f"{served.base}/webhooks/clerk", content=body), 400, "webhook-signature-invalid")
    junk = b'["not", "an", "event"]'
    _problem(
        httpx.post(f"{served.base}/webhooks/clerk", content=junk, headers=_sign(junk, served)),
        400,
        "webhook-payload-invalid",
    )
    body, signed = sign_event(_event("session.created", {"id": "sess_1"}), served.secret)
    ignored = httpx.post(f"{served.base}/webhooks/clerk", content=body, headers=signed)
    assert (ignored.status_code, ignored.json()["status"]) == (200, "ignored")
    huge = json.dumps(_event("user.created", {"id": "user_x", "pad": "x" * 1_100_000})).encode()
    _problem(
        httpx.post(f"{served.base}/webhooks/clerk", content=huge, headers=_sign(huge, served)), 413, "payload-too-large"
    )


def _sign(body: bytes, served: Served) -> dict[str, str]:
    return sign_webhook(body, served.secret)


def test_health_and_readiness(served: Served) -> None:
    """``/healthz`` is liveness; ``/readyz`` names each part (database, keys, webhook secret) and is 200 here."""
    health = httpx.get(f"{served.base}/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = httpx.get(f"{served.base}/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"signing_keys": "ok", "database": "ok", "webhooks": "ok"}


def test_unknown_routes_and_methods_are_problems(served: Served) -> None:
    """404 and 405 are problem+json too (with ``Allow`` on the 405), so a client parses one error format."""
    _problem(httpx.get(f"{served.base}/no-such-route"), 404, "not-found")
    response = httpx.delete(f"{served.base}/me")
    _problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


def _chunked(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    """Stream ``body`` with no ``Content-Length`` (httpx sends a generator as ``Transfer-Encoding: chunked``)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_chunked_webhook_bodies_are_read_and_capped(served: Served) -> None:
    """A body sent chunked (no declared length) is read like any other: a signed one is applied, and one over the
    cap is refused with 413 after reading at most cap + 1 bytes, rather than arriving empty (a 400) or whole."""
    user = make_user_json("user_contract_chunked", email="chunked@example.com")
    body, signed = sign_event(_event("user.created", user), served.secret)
    applied = httpx.post(f"{served.base}/webhooks/clerk", content=_chunked(body), headers=signed)
    assert (applied.status_code, applied.json()["status"]) == (200, "created"), applied.text
    huge = json.dumps(_event("user.created", {"id": "user_chunked_x", "pad": "x" * 3_000_000})).encode()
    refused = httpx.post(f"{served.base}/webhooks/clerk", content=_chunked(huge), headers=_sign(huge, served))
    _problem(refused, 413, "payload-too-large")
