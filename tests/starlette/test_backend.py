"""``ClerkAuthBackend`` over real HTTP (uvicorn): ``request.user`` is the synced row, a bad token is a 401
problem+json with ``WWW-Authenticate``, no token is anonymous, and the webhook endpoint's answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from clerk_sync.issuer import TokenIssuer
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event, sign_webhook
from tests.databases import sqlite_url
from tests.litestar.live import live_server
from tests.starlette.app import fastapi_app, starlette_app

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def issuer() -> TokenIssuer:
    """A fresh signing key."""
    return TokenIssuer()


@pytest.fixture
def secret() -> str:
    """The Svix signing secret."""
    return make_webhook_secret()


@pytest.fixture
def settings(issuer: TokenIssuer, secret: str) -> ClerkSettings:
    """Settings trusting ``issuer`` and ``secret``."""
    return ClerkSettings(jwt_key=issuer.public_pem(), webhook_signing_secret=secret, _env_file=None)


@pytest.fixture(params=["starlette", "fastapi"])
def base(request: pytest.FixtureRequest, settings: ClerkSettings, tmp_path: Path) -> Iterator[str]:
    """The Starlette reference app, and a FastAPI app using the same middleware."""
    build = starlette_app if request.param == "starlette" else fastapi_app
    with live_server(build(settings, sqlite_url(tmp_path))) as url:
        yield url


def test_request_user_is_the_synced_row(base: str, issuer: TokenIssuer) -> None:
    """A verified token: ``request.user`` is the row (a stable id across requests), ``request.auth`` the claims
    and the ``authenticated`` scope."""
    headers = {"Authorization": f"Bearer {issuer.mint('user_star', claims={'email': 's@example.com'})}"}
    first = httpx.get(f"{base}/me", headers=headers).json()
    assert first["clerk_id"] == first["sub"] == "user_star"
    assert first["scopes"] == ["authenticated"]
    assert isinstance(first["id"], int)
    assert httpx.get(f"{base}/me", headers=headers).json()["id"] == first["id"]


def test_no_token_is_anonymous(base: str) -> None:
    """Without a token the request passes as Starlette's unauthenticated user."""
    assert httpx.get(f"{base}/me").json() == {"anonymous": True}


def test_a_bad_token_is_a_problem_with_a_challenge(base: str) -> None:
    """A token that does not verify is refused by ``on_auth_error``: 401 problem+json, ``invalid_token``."""
    response = httpx.get(f"{base}/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["code"] == "token-invalid"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_the_webhook_endpoint(settings: ClerkSettings, secret: str, tmp_path: Path) -> None:
    """Applied, duplicate, 400 for a forged signature, 413 over the cap."""
    with live_server(starlette_app(settings, sqlite_url(tmp_path))) as url:
        body, signed = sign_event({"type": "user.created", "object": "event", "data": make_user_json("user_h")}, secret)
        assert httpx.post(f"{url}/webhooks/clerk", content=body, headers=signed).json()["status"] == "created"
        assert httpx.post(f"{url}/webhooks/clerk", content=body, headers=signed).json()["status"] == "duplicate"
        forged = httpx.post(f"{url}/webhooks/clerk", content=body)
        assert (forged.status_code, forged.json()["code"]) == (400, "webhook-signature-invalid")
        huge = json.dumps({"pad": "x" * 1_100_000}).encode()
        large = httpx.post(f"{url}/webhooks/clerk", content=huge, headers=sign_webhook(huge, secret))
        assert (large.status_code, large.json()["code"]) == (413, "payload-too-large")


def test_the_webhook_endpoint_without_a_secret_is_503(issuer: TokenIssuer, tmp_path: Path) -> None:
    """No signing secret: 503 with ``Retry-After``, so Svix retries."""
    settings = ClerkSettings(jwt_key=issuer.public_pem(), _env_file=None)
    with live_server(starlette_app(settings, sqlite_url(tmp_path))) as url:
        response = httpx.post(f"{url}/webhooks/clerk", content=b"{}")
    assert (response.status_code, response.json()["code"]) == (503, "webhook-signing-secret-missing")
    assert "retry-after" in response.headers
