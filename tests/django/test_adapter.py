"""The Django adapter through Django's test client (sync) and AsyncClient (async views), on real SQLite."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.db import connection
from django.test import AsyncClient, Client, override_settings
from django.test.utils import CaptureQueriesContext

from clerk_sync.django.models import ClerkUser
from clerk_sync.django.testing import trust_issuer
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event
from tests.django.testapp.models import Account

PROBLEM_JSON = "application/problem+json"

pytestmark = pytest.mark.django_db(transaction=True)


def _bearer(issuer: TokenIssuer, sub: str, **claims: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(sub, claims=claims)}"}


def _problem(response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM_JSON)
    body: dict[str, object] = json.loads(response.content)
    assert (body["status"], body["code"]) == (status, code)
    return body


def test_a_route_that_never_reads_the_user_costs_no_query(client: Client, clerk_django: TokenIssuer) -> None:
    """The claims are verified by the middleware; the user is never loaded unless the view asks."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/claims", headers=_bearer(clerk_django, "user_lazy"))
    assert response.json() == {"sub": "user_lazy"}
    assert len(queries) == 0
    assert not ClerkUser.objects.filter(clerk_id="user_lazy").exists()


def test_reading_the_user_twice_syncs_once(client: Client, clerk_django: TokenIssuer) -> None:
    """Two reads of ``request.clerk_user`` cost one sync; the steady state is one indexed read, no write."""
    headers = _bearer(clerk_django, "user_twice", email="t@example.com")
    first = client.get("/twice", headers=headers)
    assert first.json()["clerk_id"] == "user_twice"
    assert ClerkUser.objects.filter(clerk_id="user_twice").count() == 1
    with CaptureQueriesContext(connection) as queries:
        again = client.get("/twice", headers=headers)
    assert again.json() == first.json()
    assert len(queries) == 1
    assert queries[0]["sql"].lstrip().upper().startswith("SELECT")


def test_no_token_on_a_required_view_is_a_bearer_401(client: Client, clerk_django: TokenIssuer) -> None:
    """``clerk_required`` and ``ClerkRequiredMixin`` answer 401 problem+json with the bare challenge."""
    for path in ("/required", "/mixin"):
        response = client.get(path)
        _problem(response, 401, "session-token-missing")
        assert response["WWW-Authenticate"] == 'Bearer realm="clerk-sync"'
        assert "Location" not in response


def test_required_and_optional_views_with_a_token(client: Client, clerk_django: TokenIssuer) -> None:
    """With a token the guarded views see the synced row; ``clerk_optional`` sees None without one."""
    headers = _bearer(clerk_django, "user_guarded")
    assert client.get("/required", headers=headers).json() == {"clerk_id": "user_guarded"}
    assert client.get("/mixin", headers=headers).json() == {"clerk_id": "user_guarded"}
    assert client.get("/optional", headers=headers).json() == {"clerk_id": "user_guarded"}
    assert client.get("/optional").json() == {"clerk_id": None}


def test_a_token_that_does_not_verify_is_refused_on_any_route(client: Client, clerk_django: TokenIssuer) -> None:
    """Fail closed: a foreign or broken token is 401 with ``invalid_token`` even on a route that reads no user."""
    foreign = TokenIssuer().mint("user_foreign")
    response = client.get("/claims", headers={"Authorization": f"Bearer {foreign}"})
    _problem(response, 401, "token-invalid-signature")
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    _problem(client.get("/optional", headers={"Authorization": "Bearer a.b.c"}), 401, "token-invalid")


def test_a_cookie_that_does_not_authenticate_signs_the_request_out(client: Client, clerk_issuer: TokenIssuer) -> None:
    """Clerk's rule for the ``__session`` cookie: the browser sends it to every page, so an expired one leaves a
    public view anonymous instead of failing it, while a view that needs a user answers 401 with the cookie's
    reason (``token-expired``, not ``session-token-missing``), in the decorator and in DRF, so the client refreshes.
    A good cookie still authenticates."""
    with trust_issuer(clerk_issuer, authorized_parties=["http://localhost:3000"]):
        now = time.time()
        expired = clerk_issuer.mint("user_cookie", now=now - 600)
        client.cookies["__session"] = expired
        client.cookies["__client_uat"] = str(int(now - 900))
        assert client.get("/claims").json() == {"sub": None}
        assert client.get("/optional").json() == {"clerk_id": None}
        _problem(client.get("/required"), 401, "token-expired")
        _problem(client.get("/drf"), 401, "token-expired")
        client.cookies["__session"] = clerk_issuer.mint("user_cookie", now=now - 10)
        assert client.get("/required").json() == {"clerk_id": "user_cookie"}
        bearer = {"Authorization": f"Bearer {expired}"}
        _problem(client.get("/claims", headers=bearer), 401, "token-expired")  # a bearer token still fails closed


def test_a_deleted_user_is_refused_by_guard_and_middleware(client: Client, clerk_django: TokenIssuer) -> None:
    """A tombstoned row answers 401 ``user-deleted``: in the decorator, and via ``process_exception`` when an
    unguarded view reads ``request.clerk_user``."""
    ClerkUser.objects.create(clerk_id="user_gone", deleted_at="2024-01-01T00:00:00Z", clerk_version=10**15)
    headers = _bearer(clerk_django, "user_gone")
    _problem(client.get("/required", headers=headers), 401, "user-deleted")
    _problem(client.get("/twice", headers=headers), 401, "user-deleted")


def test_request_user_is_the_synced_row_when_it_is_auth_user_model(client: Client, clerk_django: TokenIssuer) -> None:
    """With ``CLERK_SYNC_USER_MODEL = AUTH_USER_MODEL``, Django's ``login_required`` sees the synced row, with no
    session or login; without a token it is anonymous (``login_required`` then redirects, as Django does)."""
    with override_settings(CLERK_SYNC_USER_MODEL="testapp.Account"):
        response = client.get("/login", headers=_bearer(clerk_django, "user_account"))
        assert response.json() == {"model": "Account", "clerk_id": "user_account"}
        assert Account.objects.filter(clerk_id="user_account").count() == 1
        assert client.get("/login").status_code == 302
    assert not ClerkUser.objects.filter(clerk_id="user_account").exists()


def test_drf_authentication_returns_user_and_claims(client: Client, clerk_django: TokenIssuer) -> None:
    """``ClerkAuthentication`` gives ``(user, claims)``; without a token ``IsAuthenticated`` is a 401 problem with
    the Bearer challenge from ``authenticate_header``; a bad token is refused with Clerk's code."""
    ok = client.get("/drf", headers=_bearer(clerk_django, "user_drf"))
    assert ok.json() == {"clerk_id": "user_drf", "claims": True}
    missing = client.get("/drf")
    _problem(missing, 401, "session-token-missing")
    assert missing["WWW-Authenticate"] == 'Bearer realm="clerk-sync"'
    expired = clerk_django.mint("user_drf", now=time.time() - 600)
    _problem(client.get("/drf", headers={"Authorization": f"Bearer {expired}"}), 401, "token-expired")


@pytest.mark.anyio
async def test_async_views_resolve_the_user_once(async_client: AsyncClient, clerk_django: TokenIssuer) -> None:
    """An async view awaits ``request.aclerk_user()`` (twice: the same object); the async mixin guards too."""
    headers = _bearer(clerk_django, "user_async", email="a@example.com")
    response = await async_client.get("/async", headers=headers)
    assert response.json() == {"clerk_id": "user_async", "same": True}
    assert (await async_client.get("/async-mixin", headers=headers)).json() == {"clerk_id": "user_async"}
    _problem(await async_client.get("/async-mixin"), 401, "session-token-missing")
    _problem(await async_client.get("/async"), 401, "session-token-missing")


def _event(kind: str, data: dict[str, object]) -> dict[str, object]:
    return {"type": kind, "object": "event", "data": data}


def test_webhook_view_answers(client: Client, clerk_issuer: TokenIssuer) -> None:
    """Applied, duplicate and ignored are 200; a forged one 400; an oversized declared length 413 before a
    byte is read; not POST is 405."""
    secret = make_webhook_secret()
    with trust_issuer(clerk_issuer, webhook_signing_secret=secret):
        body, headers = sign_event(_event("user.created", make_user_json("user_hook", email="h@example.com")), secret)
        first = client.post("/webhooks/clerk", body, content_type="application/json", headers=headers)
        assert first.json() == {"status": "created", "id": headers["svix-id"], "type": "user.created"}
        again = client.post("/webhooks/clerk", body, content_type="application/json", headers=headers)
        assert again.json()["status"] == "duplicate"
        assert ClerkUser.objects.get(clerk_id="user_hook").email == "h@example.com"
        body, headers = sign_event(_event("session.created", {"id": "sess_1"}), secret)
        assert client.post("/webhooks/clerk", body, content_type="application/json", headers=headers).json()[
            "status"
        ] == ("ignored")
        forged = client.post("/webhooks/clerk", body, content_type="application/json")
        _problem(forged, 400, "webhook-signature-invalid")
        huge = client.post("/webhooks/clerk", b"x" * 2_000_000, content_type="application/json", headers=headers)
        _problem(huge, 413, "payload-too-large")
        assert client.get("/webhooks/clerk").status_code == 405


def test_webhook_without_a_secret_is_503_and_not_ready(client: Client, clerk_issuer: TokenIssuer) -> None:
    """No signing secret: the webhook answers 503 (Svix retries) and ``/readyz`` names the webhooks check."""
    with trust_issuer(clerk_issuer, webhook_signing_secret=None):
        response = client.post("/webhooks/clerk", b"{}", content_type="application/json")
        _problem(response, 503, "webhook-signing-secret-missing")
        assert "Retry-After" in response
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"signing_keys": "ok", "database": "ok", "webhooks": "not configured"}


def test_readyz_and_healthz(client: Client, clerk_issuer: TokenIssuer) -> None:
    """With keys, database and secret, ``/readyz`` is 200 and names each part; ``/healthz`` is liveness."""
    with trust_issuer(clerk_issuer, webhook_signing_secret=make_webhook_secret()):
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"signing_keys": "ok", "database": "ok", "webhooks": "ok"}
        assert client.get("/healthz").json() == {"status": "ok"}


def test_problem_details_middleware_answers_a_crash_once_redacted(
    client: Client, clerk_django: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """With ``ProblemDetailsMiddleware`` a crash is a problem+json 500, logged once, the token redacted; an
    unknown path is ``not-found`` through ``handler404``."""
    from tests.django import settings as test_settings

    middleware = ["clerk_sync.django.middleware.ProblemDetailsMiddleware", *test_settings.MIDDLEWARE]
    token = clerk_django.mint("user_crash")
    with override_settings(MIDDLEWARE=middleware, DEBUG=False), caplog.at_level(logging.INFO):
        client.raise_request_exception = False
        response = client.get("/crash", headers={"Authorization": f"Bearer {token}"})
        _problem(response, 500, "internal-error")
        _problem(client.get("/no-such-route"), 404, "not-found")
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert token not in errors[0].getMessage()
    assert "[redacted]" in errors[0].getMessage()
