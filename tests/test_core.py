"""The composition root on its own, without a web framework: ``SyncClerkCore`` behind a plain threaded WSGI
server (the call path a Flask or Django app takes) and ``ClerkCore`` in an event loop, on real databases."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from sqlalchemy import event

from clerk_sync.core import ClerkCore, SyncClerkCore
from clerk_sync.db import AsyncSQLAlchemyStore, SQLAlchemyStore, upgrade
from clerk_sync.errors import ClerkSyncError, ConfigurationError, WebhookNotConfiguredError
from clerk_sync.issuer import TokenIssuer
from clerk_sync.problems import problem_for
from clerk_sync.settings import ClerkSettings
from clerk_sync.store import SyncResult
from clerk_sync.testing import FakeClerkBackend, make_user_json, make_webhook_secret, sign_event
from tests.databases import create_postgres_database, drop_postgres_database, postgres_database_url, sqlite_url

Environ = dict[str, Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _settings(issuer: TokenIssuer, **extra: Any) -> ClerkSettings:
    return ClerkSettings(jwt_key=issuer.public_pem(), _env_file=None, **extra)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def wsgi_app(core: SyncClerkCore) -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    """The smallest WSGI adapter: what Flask and Django do around the core, and nothing else."""

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        cookies = {name: morsel.value for name, morsel in SimpleCookie(environ.get("HTTP_COOKIE", "")).items()}
        try:
            claims = core.authenticate(environ.get("HTTP_AUTHORIZATION"), cookies)
            if claims is None:
                raise ConfigurationError("no token")
            user = core.current_user(claims)
        except ClerkSyncError as exc:
            problem = problem_for(exc)
            start_response(f"{problem.status} X", [("content-type", problem.content_type), *problem.headers.items()])
            return [json.dumps(problem.body()).encode()]
        start_response("200 OK", [("content-type", "application/json")])
        return [json.dumps({"id": user.id, "email": user.email}).encode()]

    return app


@contextmanager
def serving(core: SyncClerkCore) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, wsgi_app(core), server_class=_ThreadingWSGIServer, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind with the packaged schema (sync tests: each step runs its own loop)."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
        asyncio.run(upgrade(url))
        yield url
        return
    name = f"clerk_sync_core_{uuid.uuid4().hex[:12]}"
    asyncio.run(create_postgres_database(name))
    try:
        url = postgres_database_url(name)
        asyncio.run(upgrade(url))
        yield url
    finally:
        asyncio.run(drop_postgres_database(name))


def test_threads_racing_through_a_wsgi_server_make_one_row(migrated_url: str, clerk_issuer: TokenIssuer) -> None:
    """48 concurrent first requests of one new user, each on its own server thread through the sync
    authenticator and the sync SQLAlchemy store: one id for all, one ``created`` hook, one row."""
    created: list[SyncResult[Any]] = []
    store = SQLAlchemyStore.from_url(migrated_url, on_user_created=created.append)
    with SyncClerkCore(_settings(clerk_issuer), store=store) as core, serving(core) as base:
        tokens = [clerk_issuer.mint("user_wsgi_race", claims={"email": "race@example.com"}) for _ in range(48)]
        barrier = threading.Barrier(len(tokens))

        def first_request(token: str) -> httpx.Response:
            barrier.wait()
            return httpx.get(base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

        with ThreadPoolExecutor(len(tokens)) as pool:
            responses = list(pool.map(first_request, tokens))
    store.close()
    assert [r.status_code for r in responses] == [200] * 48, [r.text for r in responses if r.status_code != 200]
    assert len({r.json()["id"] for r in responses}) == 1
    assert [result.action for result in created] == ["created"]


def test_a_refused_token_is_the_problem_any_adapter_renders(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """Through the WSGI path an expired token is 401 ``token-expired`` with the Bearer challenge: the core's
    error and ``problem_for`` decide the answer, not the adapter."""
    with SyncClerkCore(_settings(clerk_issuer)) as core, serving(core) as base:
        expired = clerk_issuer.mint("user_late", now=time.time() - 600)
        response = httpx.get(base, headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.json()["code"] == "token-expired"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_sync_core_fetches_a_bare_token_users_profile_once(migrated_url: str, clerk_issuer: TokenIssuer) -> None:
    """Clerk's default token names the user only: with a secret key the sync root fetches the profile from the
    Backend API on creation, and never again for the same user."""
    user = make_user_json("user_bare", email="bare@example.com", updated_at=1_700_000_000_000)
    with FakeClerkBackend(users=[user]) as clerk:
        settings = _settings(clerk_issuer, secret_key=clerk.secret_key, api_url=clerk.url)
        store = SQLAlchemyStore.from_url(migrated_url)
        with SyncClerkCore(settings, store=store) as core:
            claims = core.authenticate(f"Bearer {clerk_issuer.mint('user_bare')}", {})
            assert claims is not None
            assert core.current_user(claims).email == "bare@example.com"
            assert core.current_user(claims).email == "bare@example.com"
        store.close()
        assert [request.path for request in clerk.requests] == ["/v1/users/user_bare"]


def test_sync_core_receives_webhooks_exactly_once(migrated_url: str, clerk_issuer: TokenIssuer) -> None:
    """``receive_webhook`` verifies, maps and applies: the first delivery is ``created``, its retry a
    ``duplicate``; an unknown type is ``ignored``; readiness sees the applied webhook."""
    secret = make_webhook_secret()
    store = SQLAlchemyStore.from_url(migrated_url)
    with SyncClerkCore(_settings(clerk_issuer, webhook_signing_secret=secret), store=store) as core:
        event = {"type": "user.created", "object": "event", "data": make_user_json("user_hooked")}
        body, headers = sign_event(event, secret)
        assert core.receive_webhook(body, headers).as_json() == {
            "status": "created",
            "id": headers["svix-id"],
            "type": "user.created",
        }
        assert core.receive_webhook(body, headers).status == "duplicate"
        body, headers = sign_event({"type": "email.created", "object": "event", "data": {}}, secret)
        assert core.receive_webhook(body, headers).status == "ignored"
        report = core.readiness()
    store.close()
    assert report.ok
    assert report.last_webhook_at is not None


def test_without_a_secret_or_a_database_the_core_says_which_part_is_missing(clerk_issuer: TokenIssuer) -> None:
    """No webhook secret: deliveries are a 503 error and readiness names ``webhooks``; no store: the user needs
    a database (a configuration error), while authentication still works."""
    with SyncClerkCore(_settings(clerk_issuer)) as core:
        with pytest.raises(WebhookNotConfiguredError):
            core.receive_webhook(b"{}", {})
        claims = core.authenticate(f"Bearer {clerk_issuer.mint('user_alone')}", {})
        assert claims is not None
        with pytest.raises(ConfigurationError, match="user store"):
            core.current_user(claims)
        report = core.readiness()
    assert (report.signing_keys, report.database, report.webhooks) == ("ok", "not configured", "not configured")
    assert report.status_code == 503


def test_readiness_reports_an_unreachable_database(clerk_issuer: TokenIssuer) -> None:
    """A database that does not answer makes readiness ``unavailable`` (503) instead of raising."""
    store = SQLAlchemyStore.from_url("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    with SyncClerkCore(_settings(clerk_issuer), store=store) as core:
        report = core.readiness()
    store.close()
    assert (report.database, report.status_code) == ("unavailable", 503)


def test_a_closed_core_refuses_to_work(clerk_issuer: TokenIssuer) -> None:
    """Using a root before ``with`` (or after) is a clear configuration error, not an AttributeError."""
    core = SyncClerkCore(_settings(clerk_issuer))
    with pytest.raises(ConfigurationError, match="not started"):
        core.authenticate(None, {})
    with core:
        assert core.authenticate(None, {}) is None
    with pytest.raises(ConfigurationError, match="not started"):
        core.authenticate(None, {})


def test_a_root_without_any_key_source_fails_at_construction() -> None:
    """No PEM, JWKS URL, secret or publishable key: one line naming the variables, before anything opens."""
    with pytest.raises(ConfigurationError, match="CLERK_JWT_KEY"):
        SyncClerkCore(ClerkSettings(_env_file=None))


@pytest.mark.anyio
async def test_async_core_opens_and_closes_a_store_it_made(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """Given a factory, ``ClerkCore`` makes the store when it opens and closes it on exit (its engine is
    disposed); a store passed in as an instance stays open for its owner."""
    url = sqlite_url(tmp_path)
    await upgrade(url)
    made: list[AsyncSQLAlchemyStore[Any]] = []
    disposed: list[object] = []

    def factory() -> AsyncSQLAlchemyStore[Any]:
        made.append(AsyncSQLAlchemyStore.from_url(url))
        event.listen(made[0].engine.sync_engine, "engine_disposed", disposed.append)
        return made[0]

    async with ClerkCore(_settings(clerk_issuer), store=factory) as core:
        claims = await core.authenticate(f"Bearer {clerk_issuer.mint('user_async', claims={'email': 'a@x.io'})}", {})
        assert claims is not None
        assert (await core.current_user(claims)).email == "a@x.io"
        assert (await core.readiness()).database == "ok"
    assert disposed == [made[0].engine.sync_engine]
    owned = AsyncSQLAlchemyStore.from_url(url)
    async with ClerkCore(_settings(clerk_issuer), store=owned) as core:
        assert (await core.readiness()).database == "ok"
    assert await owned.last_webhook_at() is None  # still usable after the core closed
    await owned.close()
