"""Integration: the token path over HTTP through a FastAPI app using the public integration API."""

from __future__ import annotations

import logging

import pytest
from fastapi import Depends, FastAPI

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import AuthenticationError, ClerkSyncError, ConfigurationError
from clerk_sync.fastapi import Claims, ClerkSync, OptionalClaims, install_exception_handlers, status_for
from clerk_sync.issuer import TokenIssuer
from clerk_sync.problems import STATUS
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing.jwks_server import JwksServer
from tests.asgi import serving

pytestmark = pytest.mark.anyio


def build_app(settings: ClerkSettings, calls: list[str] | None = None) -> FastAPI:
    clerk = ClerkSync(settings)
    app = FastAPI(lifespan=clerk.lifespan)
    install_exception_handlers(app)

    async def counting(claims: OptionalClaims) -> None:
        if calls is not None:
            calls.append("guard")

    @app.get("/whoami", dependencies=[Depends(counting)])
    async def whoami(claims: Claims, again: Claims) -> dict[str, object]:
        return {"sub": claims.sub, "same": claims is again, "org": claims.organization is not None}

    @app.get("/maybe")
    async def maybe(claims: OptionalClaims) -> dict[str, object]:
        return {"sub": claims.sub if claims else None}

    return app


@pytest.fixture
def pem_settings(clerk_issuer: TokenIssuer) -> ClerkSettings:
    return ClerkSettings(jwt_key=clerk_issuer.public_pem(), _env_file=None)


async def test_bearer_header(pem_settings: ClerkSettings, clerk_issuer: TokenIssuer) -> None:
    """A valid bearer token reaches the route as typed claims."""
    async with serving(build_app(pem_settings)) as client:
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {clerk_issuer.mint('user_h')}"})
    assert response.status_code == 200
    assert response.json() == {"sub": "user_h", "same": True, "org": False}


async def test_bare_token_and_cookie(pem_settings: ClerkSettings, clerk_issuer: TokenIssuer) -> None:
    """A header without scheme is a token; a __session cookie alone is not enough (rules: test_cookie_http.py)."""
    async with serving(build_app(pem_settings)) as client:
        bare = await client.get("/whoami", headers={"Authorization": clerk_issuer.mint("user_bare")})
        cookie = await client.get("/whoami", headers={"Cookie": f"__session={clerk_issuer.mint('user_cookie')}"})
    assert bare.json()["sub"] == "user_bare"
    assert cookie.status_code == 401
    assert cookie.json()["code"] == "cookie-auth-requires-authorized-parties"


async def test_header_wins_over_cookie(pem_settings: ClerkSettings, clerk_issuer: TokenIssuer) -> None:
    """With both present, the header token is judged and the cookie ignored."""
    async with serving(build_app(pem_settings)) as client:
        response = await client.get(
            "/whoami",
            headers={"Authorization": "Bearer x.y.z", "Cookie": f"__session={clerk_issuer.mint('user_cookie')}"},
        )
    assert response.status_code == 401
    assert response.json()["code"] == "token-invalid"


async def test_other_schemes_are_not_tokens(pem_settings: ClerkSettings, clerk_issuer: TokenIssuer) -> None:
    """Basic credentials are not a session token: session-token-missing, without invalid_token."""
    async with serving(build_app(pem_settings)) as client:
        response = await client.get("/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.json()["code"] == "session-token-missing"
    assert response.headers["www-authenticate"] == 'Bearer realm="clerk-sync"'


async def test_missing_token_problem_document(pem_settings: ClerkSettings) -> None:
    """No token: 401 problem+json with code and a WWW-Authenticate challenge without error."""
    async with serving(build_app(pem_settings)) as client:
        response = await client.get("/whoami")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "session-token-missing"
    assert body["status"] == 401
    assert "error=" not in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("expired", "token-expired"),
        ("foreign", "token-invalid-signature"),
        ("junk", "token-invalid"),
        ("machine", "token-type-mismatch"),
        ("pending", "session-pending"),
    ],
)
async def test_refusals_are_401_with_invalid_token(
    pem_settings: ClerkSettings, clerk_issuer: TokenIssuer, case: str, code: str
) -> None:
    """Each refusal is a 401 with its Clerk code and error="invalid_token"."""
    tokens = {
        "expired": clerk_issuer.mint(ttl=-100),
        "foreign": TokenIssuer(kid=clerk_issuer.kid).mint(),
        "junk": "not-a-token",
        "machine": clerk_issuer.mint("mch_1"),
        "pending": clerk_issuer.mint(claims={"sts": "pending"}),
    }
    async with serving(build_app(pem_settings)) as client:
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {tokens[case]}"})
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_oversized_header_is_refused(pem_settings: ClerkSettings) -> None:
    """A 20 KB token is refused without being parsed."""
    async with serving(build_app(pem_settings)) as client:
        response = await client.get("/whoami", headers={"Authorization": "Bearer " + "a" * 20_000})
    assert response.status_code == 401
    assert response.json()["code"] == "token-invalid"


async def test_optional_claims(pem_settings: ClerkSettings, clerk_issuer: TokenIssuer) -> None:
    """OptionalClaims is None for anonymous requests but still refuses a bad token."""
    async with serving(build_app(pem_settings)) as client:
        anonymous = await client.get("/maybe")
        signed = await client.get("/maybe", headers={"Authorization": f"Bearer {clerk_issuer.mint('user_o')}"})
        bad = await client.get("/maybe", headers={"Authorization": "Bearer a.b.c"})
    assert anonymous.json() == {"sub": None}
    assert signed.json() == {"sub": "user_o"}
    assert bad.status_code == 401


async def test_claims_resolved_once_per_request(
    pem_settings: ClerkSettings, clerk_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Route, guard and two Claims parameters share one verification."""
    verifications: list[str] = []
    from clerk_sync.verify import TokenVerifier

    original = TokenVerifier.verify

    async def counting(self: TokenVerifier, token: str) -> SessionClaims:
        verifications.append(token)
        return await original(self, token)

    monkeypatch.setattr(TokenVerifier, "verify", counting)
    calls: list[str] = []
    async with serving(build_app(pem_settings, calls)) as client:
        response = await client.get("/whoami", headers={"Authorization": f"Bearer {clerk_issuer.mint()}"})
    assert response.status_code == 200
    assert len(verifications) == 1
    assert calls == ["guard"]


async def test_jwks_outage_is_503_not_401(clerk_issuer: TokenIssuer) -> None:
    """No keys obtainable -> 503 jwk-remote-failed-to-load with Retry-After; the user is not signed out."""
    with JwksServer(clerk_issuer) as server:
        server.status = 500
        settings = ClerkSettings(jwks_url=server.url, _env_file=None)
        async with serving(build_app(settings)) as client:
            response = await client.get("/whoami", headers={"Authorization": f"Bearer {clerk_issuer.mint()}"})
    assert response.status_code == 503
    assert response.json()["code"] == "jwk-remote-failed-to-load"
    assert int(response.headers["retry-after"]) > 0


async def test_jwks_mode_end_to_end_with_issuer_and_parties(clerk_issuer: TokenIssuer) -> None:
    """JWKS URL + issuer + authorized parties, configured through settings, enforce all three."""
    with JwksServer(clerk_issuer) as server:
        settings = ClerkSettings(
            jwks_url=server.url,
            issuer=clerk_issuer.issuer,
            authorized_parties="http://localhost:3000, https://b.dev",
            _env_file=None,
        )
        async with serving(build_app(settings)) as client:
            ok = await client.get("/whoami", headers={"Authorization": f"Bearer {clerk_issuer.mint('user_ok')}"})
            wrong_azp = await client.get(
                "/whoami", headers={"Authorization": f"Bearer {clerk_issuer.mint(claims={'azp': 'https://evil.dev'})}"}
            )
            wrong_iss = await client.get(
                "/whoami", headers={"Authorization": f"Bearer {clerk_issuer.mint(claims={'iss': 'https://x.dev'})}"}
            )
    assert ok.json()["sub"] == "user_ok"
    assert wrong_azp.json()["code"] == "token-invalid-authorized-parties"
    assert wrong_iss.json()["code"] == "token-invalid-issuer"


async def test_tokens_never_logged(
    pem_settings: ClerkSettings, clerk_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither valid nor refused tokens appear in any log record."""
    caplog.set_level(logging.DEBUG)
    good, bad = clerk_issuer.mint(), clerk_issuer.mint(ttl=-100)
    async with serving(build_app(pem_settings)) as client:
        await client.get("/whoami", headers={"Authorization": f"Bearer {good}"})
        await client.get("/whoami", headers={"Authorization": f"Bearer {bad}"})
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "token-expired" in text
    for token in (good, bad):
        assert token not in text
        assert token.split(".")[2] not in text


async def test_openapi_declares_bearer_scheme(pem_settings: ClerkSettings) -> None:
    """/docs shows an Authorize button: the bearer scheme is in the OpenAPI document."""
    async with serving(build_app(pem_settings)) as client:
        schema = (await client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["ClerkSession"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A Clerk session token (or the `__session` cookie).",
    }
    # Both schemes are documented on their routes, the optional one (``/maybe``) as well as the required one.
    security = {path: item["get"].get("security") for path, item in schema["paths"].items()}
    assert security == {"/whoami": [{"ClerkSession": []}], "/maybe": [{"ClerkSession": []}]}


def _all_subclasses(cls: type[ClerkSyncError]) -> set[type[ClerkSyncError]]:
    found: set[type[ClerkSyncError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub} | _all_subclasses(sub)
    return found


def test_every_error_class_has_a_code_and_a_status() -> None:
    """Every class in the tree has its own stable code and a deliberate HTTP status: a row of ``STATUS`` names
    it (the 500 fallback for unknown errors never applies to ours), and only configuration errors are 500s."""
    classes = _all_subclasses(ClerkSyncError)
    assert len(classes) >= 25
    for cls in classes:
        assert cls.code != ClerkSyncError.code
        status = status_for(cls.__new__(cls))
        rows = [row for base, row in STATUS if issubclass(cls, base)]
        assert rows, f"{cls.__name__} matches no row of STATUS: it would be a 500 by accident"
        assert status == rows[0], cls
        assert (status == 500) == issubclass(cls, ConfigurationError), cls
        if issubclass(cls, AuthenticationError):
            assert status == 401, cls
        if cls.code in {"jwk-remote-failed-to-load", "database-unavailable"}:
            assert status == 503
