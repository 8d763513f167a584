"""The development demo router in-process: page and assets, ``POST /dev/token``, and where it is mounted."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from clerk_sync.errors import TokenExpiredError
from clerk_sync.fastapi import install_exception_handlers
from clerk_sync.issuer import TokenIssuer
from clerk_sync.keys import PemKeySet
from clerk_sync.service import ServiceSettings, create_app
from clerk_sync.service.demo import PAGE_TOKEN_TTL, demo_router
from clerk_sync.settings import ClerkSettings
from clerk_sync.verify import TokenVerifier
from tests.asgi import serving

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "http://127.0.0.1:8000"


@pytest.fixture
async def client(clerk_issuer: TokenIssuer) -> AsyncIterator[httpx.AsyncClient]:
    """The router alone, with the service's error handlers (``all_errors=True``), so 422s are the service's
    problem documents."""
    app = FastAPI()
    install_exception_handlers(app, all_errors=True)
    app.include_router(demo_router(clerk_issuer))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=LOOPBACK) as http:
        yield http


def verifier(issuer: TokenIssuer) -> TokenVerifier:
    return TokenVerifier(PemKeySet(issuer.public_key), issuer=issuer.issuer)


async def test_page_has_the_controls_and_no_external_urls(client: httpx.AsyncClient) -> None:
    """The page works offline: every script and stylesheet is ours, and the CSP forbids anything else."""
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for element_id in ("sign-in", "call-me", "expire", "user-email", "user-clerk-id", "refresh-count", "log"):
        assert f'id="{element_id}"' in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(source.startswith("/demo/") or source == "data:," for source in sources), sources
    for name in ("demo.js", "demo.css"):
        asset = await client.get(f"/demo/{name}")
        assert asset.status_code == 200
        assert not re.search(r"https?://", asset.text), name


async def test_client_module_is_served_as_javascript(client: httpx.AsyncClient) -> None:
    """Browsers refuse module scripts without a JavaScript type; the served file is the tested client itself."""
    response = await client.get("/demo/api-client.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "export function createApiClient" in response.text
    source = REPO / "clients" / "js" / "src" / "index.js"
    if source.is_file():
        assert response.content == source.read_bytes()
    demo = await client.get("/demo/demo.js")
    assert demo.headers["content-type"].startswith("text/javascript")
    assert 'from "/demo/api-client.js"' in demo.text


@pytest.mark.parametrize("name", ["nope.js", "page", "..%2Fdemo.py", "index.html"])
async def test_unknown_assets_are_404(client: httpx.AsyncClient, name: str) -> None:
    """Only the listed assets are served, never a file picked by the path."""
    response = await client.get(f"/demo/{name}")
    assert response.status_code == 404


async def test_token_carries_the_profile_and_verifies(client: httpx.AsyncClient, clerk_issuer: TokenIssuer) -> None:
    """A fresh token is Clerk-shaped, lives 60 s, carries the given claims, and passes the real verifier."""
    body = {"sub": "user_demo_1", "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    response = await client.post("/dev/token", json=body)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    token = response.json()["token"]
    claims = await verifier(clerk_issuer).verify(token)
    assert claims.sub == "user_demo_1"
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == PAGE_TOKEN_TTL
    assert {k: payload[k] for k in ("email", "first_name", "last_name")} == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
    }
    assert "image_url" not in payload


async def test_expired_token_is_refused_as_expired(client: httpx.AsyncClient, clerk_issuer: TokenIssuer) -> None:
    """`expired: true` gives a token the verifier rejects with token-expired, beyond any clock skew."""
    response = await client.post("/dev/token", json={"sub": "user_demo_1", "expired": True})
    assert response.status_code == 200
    assert response.json()["expired"] is True
    with pytest.raises(TokenExpiredError):
        await verifier(clerk_issuer).verify(response.json()["token"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"sub": "user_"},
        {"sub": "usr_123"},
        {"sub": "user_a-b"},
        {"sub": "user_x\n"},
        {"sub": "user_" + "a" * 65},
        {"sub": "user_ok", "email": "not-an-email"},
        {"sub": "user_ok", "email": "a@" + "b" * 260},
        {"sub": "user_ok", "first_name": ""},
        {"sub": "user_ok", "first_name": "x" * 101},
        {"sub": "user_ok", "image_url": "javascript:alert(1)"},
        {"sub": "user_ok", "expired": "yes"},
        {"sub": "user_ok", "role": "admin"},
        ["user_ok"],
    ],
)
async def test_bad_input_is_a_422_problem(client: httpx.AsyncClient, body: object) -> None:
    """Invalid users are refused with the service's problem document, before anything is signed."""
    response = await client.post("/dev/token", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "request-invalid"
    assert "token" not in response.json()


async def test_non_json_body_is_a_422_problem(client: httpx.AsyncClient) -> None:
    """A cross-site form post (no JSON content type) is not parsed as a request for a token."""
    response = await client.post("/dev/token", content='{"sub": "user_ok"}', headers={"content-type": "text/plain"})
    assert response.status_code == 422


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "evil.example:8000"},
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"host": "127.0.0.1.evil.example"},
    ],
)
async def test_only_loopback_pages_get_tokens(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """A rebound DNS name or another site's page cannot mint tokens, even though the server is on loopback."""
    response = await client.post("/dev/token", json={"sub": "user_ok"}, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "dev-token-forbidden"


@pytest.mark.parametrize(
    "headers", [{"host": "localhost:8000", "origin": "http://localhost:8000"}, {"host": "[::1]:8000"}]
)
async def test_loopback_names_are_accepted(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    """Loopback names (localhost, [::1]) in Host and Origin count as local: /dev/token issues a token."""
    response = await client.post("/dev/token", json={"sub": "user_ok"}, headers=headers)
    assert response.status_code == 200


def service_settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")


async def test_not_mounted_without_dev(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """A production service has no page and no way to mint tokens."""
    app = create_app(
        service_settings(tmp_path), ClerkSettings(jwt_key=clerk_issuer.public_pem(), _env_file=None), dev=False
    )
    async with serving(app) as http:
        assert (await http.get("/")).status_code == 404
        assert (await http.get("/demo/api-client.js")).status_code == 404
        assert (await http.post("/dev/token", json={"sub": "user_ok"})).status_code == 404


async def test_mounted_with_dev_and_trusted_by_me(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In development mode the page is served and its tokens are the ones ``/me`` trusts; expired ones get 401."""
    monkeypatch.setenv("CLERK_SYNC_DEV_DIR", str(tmp_path))  # a development key of its own
    app = create_app(service_settings(tmp_path), ClerkSettings(_env_file=None), dev=True)
    async with serving(app) as http:
        http.base_url = httpx.URL(LOOPBACK)
        assert (await http.get("/")).status_code == 200
        fresh = (await http.post("/dev/token", json={"sub": "user_wired", "email": "w@example.com"})).json()
        expired = (await http.post("/dev/token", json={"sub": "user_wired", "expired": True})).json()
        me = await http.get("/me", headers={"Authorization": f"Bearer {fresh['token']}"})
        refused = await http.get("/me", headers={"Authorization": f"Bearer {expired['token']}"})
    assert me.status_code == 200
    assert me.json()["clerk_id"] == "user_wired"
    assert refused.status_code == 401
    assert refused.json()["code"] == "token-expired"


def test_every_query_parameter_of_the_page_is_documented() -> None:
    """Each URL parameter demo.js reads (``?auto=1`` and the profile it signs in with) is explained in the README,
    so the mode the browser test uses is not a hidden feature."""
    script = (Path(__file__).resolve().parents[2] / "src/clerk_sync/service/static/demo.js").read_text()
    fields = re.search(r"const fields = \{([^}]*)\}", script)
    assert fields is not None
    read = {"auto", *re.findall(r"(\w+): \"", fields.group(1))}
    assert read == {"auto", "sub", "email", "first_name", "last_name"}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "?auto=1" in readme
    assert [name for name in sorted(read - {"auto"}) if f"&{name}=" not in readme] == []
