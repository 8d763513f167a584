"""``current_user`` / ``current_claims`` and the decorators: lazy, one sync per request, 401 problem+json with a
Bearer challenge (never a redirect), and an optional variant in which a sent token must still verify."""

from __future__ import annotations

from typing import Any

from flask import Flask

from clerk_sync.flask import clerk_optional, clerk_required, current_claims, current_user, get_current_user
from clerk_sync.issuer import TokenIssuer
from tests.flask.conftest import AppFactory, Statements, json_of


def _routes(app: Flask) -> Flask:
    @app.get("/claims-only")
    @clerk_required
    def claims_only() -> dict[str, Any]:
        return {"sub": current_claims.sub}

    @app.get("/user-twice")
    @clerk_required
    def user_twice() -> dict[str, Any]:
        return {"ids": [current_user.id, current_user.id], "same": get_current_user() is get_current_user()}

    @app.get("/maybe")
    @clerk_optional
    def maybe() -> dict[str, Any]:
        return {"user": None if get_current_user() is None else current_user.clerk_id}

    @app.get("/maybe-too")
    @clerk_required(optional=True)
    def maybe_too() -> dict[str, Any]:
        return {"anonymous": not current_user}

    return app


def _bearer(issuer: TokenIssuer, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(sub, claims={'email': f'{sub}@example.com'})}"}


def test_a_route_that_never_touches_the_user_runs_no_query(
    make_app: AppFactory, clerk_issuer: TokenIssuer, statements: Statements
) -> None:
    """``clerk_required`` verifies the token only: a route reading ``current_claims`` alone costs no SQL."""
    client = _routes(statements.watch(make_app())).test_client()
    statements.clear()
    response = client.get("/claims-only", headers=_bearer(clerk_issuer, "user_lazy"))
    assert (response.status_code, response.json) == (200, {"sub": "user_lazy"})
    assert statements.seen == []


def test_current_user_read_twice_syncs_once(
    make_app: AppFactory, clerk_issuer: TokenIssuer, statements: Statements
) -> None:
    """Reading ``current_user`` twice in a request is one resolution: the first request creates the row; in the
    steady state a request reading it twice runs exactly one statement (the store's indexed read)."""
    client = _routes(statements.watch(make_app())).test_client()
    headers = _bearer(clerk_issuer, "user_twice")
    first = client.get("/user-twice", headers=headers)
    assert first.status_code == 200, first.text
    assert json_of(first)["same"] is True
    statements.clear()
    again = client.get("/user-twice", headers=headers)
    assert again.json == first.json
    assert len(statements.seen) == 1, statements.seen
    assert statements.seen[0].lstrip().upper().startswith("SELECT")


def test_required_without_a_token_is_a_401_problem_with_a_challenge(make_app: AppFactory) -> None:
    """No token: 401 ``session-token-missing``, problem+json, a bare ``WWW-Authenticate: Bearer``, no redirect."""
    response = _routes(make_app()).test_client().get("/claims-only")
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert json_of(response)["code"] == "session-token-missing"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="clerk-sync"'
    assert "Location" not in response.headers


def test_a_bad_token_is_refused_with_its_reason(make_app: AppFactory) -> None:
    """A token that does not verify: 401 with Clerk's reason and ``error="invalid_token"``."""
    expired = TokenIssuer().mint("user_foreign")
    response = _routes(make_app()).test_client().get("/claims-only", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert json_of(response)["code"] == "token-invalid-signature"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_optional_routes_serve_anonymous_requests_but_verify_sent_tokens(
    make_app: AppFactory, clerk_issuer: TokenIssuer
) -> None:
    """Both optional spellings run the view anonymously (``None`` behind ``current_user``), sync a valid token's
    user, and refuse a sent token that does not verify."""
    client = _routes(make_app()).test_client()
    assert client.get("/maybe").json == {"user": None}
    assert client.get("/maybe-too").json == {"anonymous": True}
    assert client.get("/maybe", headers=_bearer(clerk_issuer, "user_opt")).json == {"user": "user_opt"}
    assert client.get("/maybe-too", headers=_bearer(clerk_issuer, "user_opt")).json == {"anonymous": False}
    bad = client.get("/maybe", headers={"Authorization": "Bearer not-a-jwt"})
    assert (bad.status_code, json_of(bad)["code"]) == (401, "token-invalid")
