"""Integration: cookie sessions over HTTP through the reference service, with real signed tokens from the kit.

A browser on the app's site sends ``__session`` and ``__client_uat``; the service trusts the cookie only as
Clerk's ``authenticateRequest`` would, and only with ``CLERK_AUTHORIZED_PARTIES`` set (CSRF). Where Clerk would
redirect a browser into a handshake, an API answers 401 with Clerk's reason as the code.
"""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from clerk_sync.issuer import TokenIssuer
from clerk_sync.service import ServiceSettings, create_app
from clerk_sync.settings import ClerkSettings
from clerk_sync.tokens import cookie_suffix
from tests.asgi import serving

pytestmark = pytest.mark.anyio

APP = "http://localhost:3000"  # the kit's default azp


def service(tmp_path: Path, issuer: TokenIssuer, **clerk: Any) -> FastAPI:
    return create_app(
        ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/cookie.db"),
        ClerkSettings(jwt_key=issuer.public_pem(), _env_file=None, **clerk),
    )


def cookie_header(**cookies: str) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}


def publishable_key_for(issuer: TokenIssuer) -> str:
    host = issuer.issuer.removeprefix("https://")
    return "pk_test_" + base64.b64encode(f"{host}$".encode()).decode().rstrip("=")


def assert_refused(response: httpx.Response, code: str) -> None:
    """A 401 problem document with the code; never a redirect (no handshake for an API)."""
    assert response.status_code == 401, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert f'error_description="{code}"' in response.headers["www-authenticate"]


async def test_cookie_refused_without_authorized_parties(
    tmp_path: Path, clerk_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """No CLERK_AUTHORIZED_PARTIES: a valid cookie session is refused with its own code, a header token still
    works, and start-up logged one warning naming the variable (and no key material)."""
    caplog.set_level(logging.WARNING, logger="clerk_sync")
    now = int(time.time())
    token = clerk_issuer.mint("user_cookie", now=now)
    async with serving(service(tmp_path, clerk_issuer)) as client:
        cookie = await client.get("/me/claims", headers=cookie_header(__session=token, __client_uat=str(now)))
        header = await client.get("/me/claims", headers={"Authorization": f"Bearer {token}"})
    assert_refused(cookie, "cookie-auth-requires-authorized-parties")
    assert header.status_code == 200
    assert header.json()["clerk_id"] == "user_cookie"
    warnings = [r for r in caplog.records if "CLERK_AUTHORIZED_PARTIES" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "cookie" in warnings[0].getMessage()
    pem_body = clerk_issuer.public_pem(armor=False)[:40]
    assert pem_body not in caplog.text
    assert token not in caplog.text


async def test_no_warning_with_authorized_parties(
    tmp_path: Path, clerk_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """With an allow-list configured the start-up warning is not logged."""
    caplog.set_level(logging.WARNING, logger="clerk_sync")
    async with serving(service(tmp_path, clerk_issuer, authorized_parties=APP)) as client:
        assert (await client.get("/healthz")).status_code == 200
    assert not [r for r in caplog.records if "CLERK_AUTHORIZED_PARTIES" in r.getMessage()]


async def test_cookie_session_syncs_the_user(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """__session with a __client_uat at or before its iat and an allowed azp: /me answers the synced row."""
    now = int(time.time())
    token = clerk_issuer.mint("user_browser", now=now)
    async with serving(service(tmp_path, clerk_issuer, authorized_parties=f"{APP},https://other.example")) as client:
        response = await client.get("/me", headers=cookie_header(__session=token, __client_uat=str(now - 60)))
    assert response.status_code == 200, response.text
    assert response.json()["clerk_id"] == "user_browser"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("no client_uat", "session-token-but-no-client-uat"),
        ("client_uat 0", "session-token-but-no-client-uat"),
        ("client_uat not a number", "session-token-but-no-client-uat"),
        ("iat before client_uat", "session-token-iat-before-client-uat"),
        ("azp not allowed", "token-invalid-authorized-parties"),
        ("azp missing", "token-invalid-authorized-parties"),
    ],
)
async def test_cookie_refusals(tmp_path: Path, clerk_issuer: TokenIssuer, case: str, code: str) -> None:
    """Each inconsistent cookie session is a 401 with Clerk's reason, where Clerk would start a handshake."""
    now = int(time.time())
    token = clerk_issuer.mint(now=now)
    cookies = {
        "no client_uat": {"__session": token},
        "client_uat 0": {"__session": token, "__client_uat": "0"},
        "client_uat not a number": {"__session": token, "__client_uat": "yesterday"},
        "iat before client_uat": {"__session": clerk_issuer.mint(now=now - 10), "__client_uat": str(now)},
        "azp not allowed": {
            "__session": clerk_issuer.mint(claims={"azp": "https://evil.example"}),
            "__client_uat": "1",
        },
        "azp missing": {"__session": clerk_issuer.mint(claims={"azp": None}), "__client_uat": "1"},
    }[case]
    async with serving(service(tmp_path, clerk_issuer, authorized_parties=APP)) as client:
        response = await client.get("/me/claims", headers=cookie_header(**cookies))
    assert_refused(response, code)


async def test_header_token_unaffected_by_cookies(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """A header token is judged alone: a newer __client_uat and a junk __session beside it change nothing."""
    now = int(time.time())
    token = clerk_issuer.mint("user_api", now=now - 10)
    async with serving(service(tmp_path, clerk_issuer, authorized_parties=APP)) as client:
        response = await client.get(
            "/me/claims",
            headers={"Authorization": f"Bearer {token}", **cookie_header(__session="junk", __client_uat=str(now))},
        )
    assert response.status_code == 200
    assert response.json()["clerk_id"] == "user_api"


async def test_suffixed_cookies_over_http(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """With CLERK_PUBLISHABLE_KEY set, the __session_<suffix> pair wins over another app's __session on the same
    domain, and its own __client_uat_<suffix> is what the token is held against."""
    now = int(time.time())
    key = publishable_key_for(clerk_issuer)
    suffix = cookie_suffix(key)
    other_app = TokenIssuer(issuer="https://clerk.other-app.lcl.dev").mint("user_other", now=now)
    ours = clerk_issuer.mint("user_suffixed", now=now)
    cookies = {
        "__session": other_app,
        "__client_uat": "1",
        f"__session_{suffix}": ours,
        f"__client_uat_{suffix}": str(now),
    }
    app = service(tmp_path, clerk_issuer, authorized_parties=APP, publishable_key=key)
    async with serving(app) as client:
        accepted = await client.get("/me/claims", headers=cookie_header(**cookies))
        stale = await client.get(
            "/me/claims", headers=cookie_header(**{**cookies, f"__client_uat_{suffix}": str(now + 30)})
        )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["clerk_id"] == "user_suffixed"
    assert_refused(stale, "session-token-iat-before-client-uat")
