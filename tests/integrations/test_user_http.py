"""Integration: the request-time user sync over HTTP (ASGI), on SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import String, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, mapped_column

from clerk_sync.db import ClerkUserMixin, User
from clerk_sync.db.reader import BACKOFF_S
from clerk_sync.fastapi import (
    Claims,
    ClerkSync,
    CurrentUser,
    OptionalUser,
    SessionDep,
    get_current_user,
    install_exception_handlers,
)
from clerk_sync.issuer import TokenIssuer
from clerk_sync.profile import UserDeletion
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing.backend import FakeClerkBackend, make_user_json
from tests.asgi import serving
from tests.databases import temporary_postgres_database
from tests.support import AppBase, Statements, eventually, open_engine
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.anyio


class Member(ClerkUserMixin, AppBase):
    """An app's own model: its own table and a column clerk-sync knows nothing about."""

    __tablename__ = "user_http_members"
    nickname: Mapped[str | None] = mapped_column(String(50), default=None)


def build_app(clerk: ClerkSync) -> FastAPI:
    app = FastAPI(lifespan=clerk.lifespan)
    install_exception_handlers(app)

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {
            "id": user.id,
            "clerk_id": user.clerk_id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "public_metadata": user.public_metadata,
            "updated_at": user.updated_at.isoformat(),
        }

    @app.get("/claims")
    async def claims_only(claims: Claims) -> dict[str, str]:
        return {"sub": claims.sub}

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> dict[str, Any]:
        return {"id": user.id if user else None}

    guarded = APIRouter(prefix="/guarded", dependencies=[Depends(get_current_user)])

    @guarded.get("/ping")
    async def ping(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
        assert user in session  # the user is bound to the request's session
        return {"id": user.id}

    app.include_router(guarded)

    @app.get("/both")
    async def both(user: CurrentUser, maybe: OptionalUser) -> dict[str, Any]:
        return {"same": user is maybe}

    @app.post("/picture/user-first")
    async def picture_user_first(user: CurrentUser, session: SessionDep) -> dict[str, Any]:
        user.image_url = "https://img.example/user-first.png"
        await session.commit()
        return {"id": user.id}

    @app.post("/picture/session-first")
    async def picture_session_first(session: SessionDep, user: CurrentUser) -> dict[str, Any]:
        user.image_url = "https://img.example/session-first.png"
        await session.commit()
        return {"id": user.id}

    return app


@asynccontextmanager
async def running(
    url: str, issuer: TokenIssuer, **kwargs: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Statements, FastAPI]]:
    settings = kwargs.pop("settings", None) or ClerkSettings(jwt_key=issuer.public_pem())
    kwargs.setdefault("migrate", "model" not in kwargs)
    app = build_app(ClerkSync(settings, database_url=url, **kwargs))
    async with serving(app) as client:
        statements = Statements()
        database = app.state.clerk_sync.store
        event.listen(database.engine.sync_engine, "before_cursor_execute", statements)
        if database.reader is not None:  # the store's direct read runs beside the engine
            database.reader.trace(statements.record)
        yield client, statements, app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


PROFILE = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "public_metadata": {"plan": "pro"}}


async def count_users(app: FastAPI, clerk_id: str | None = None) -> int:
    database = app.state.clerk_sync.store
    async with database.sessionmaker() as session:
        query = select(func.count()).select_from(User)
        if clerk_id is not None:
            query = query.where(User.clerk_id == clerk_id)
        return int((await session.execute(query)).scalar_one())


async def test_first_request_creates_the_user_from_claims(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """The first request returns a real row with a database id, filled from the token's claims."""
    async with running(db_url, clerk_issuer) as (client, _, app):
        response = await client.get("/me", headers=bearer(clerk_issuer.mint("user_first", claims=PROFILE)))
        assert response.status_code == 200
        body = response.json()
        assert isinstance(body["id"], int)
        assert body["email"] == "ada@example.com"
        assert body["public_metadata"] == {"plan": "pro"}
        assert await count_users(app) == 1


async def test_sixty_four_concurrent_first_requests_make_one_row(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """64 concurrent first requests for one new user: all 200, one id, one row."""
    async with running(db_url, clerk_issuer) as (client, _, app):
        tokens = [clerk_issuer.mint("user_burst", claims=PROFILE) for _ in range(64)]
        responses = await asyncio.gather(*(client.get("/me", headers=bearer(t)) for t in tokens))
        assert {r.status_code for r in responses} == {200}
        assert len({r.json()["id"] for r in responses}) == 1
        assert await count_users(app, "user_burst") == 1


async def test_unchanged_claims_cost_one_read_and_no_write(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """Steady state: an unchanged user costs one SELECT and zero writes; updated_at does not move."""
    async with running(db_url, clerk_issuer) as (client, statements, _):
        first = (await client.get("/me", headers=bearer(clerk_issuer.mint("user_steady", claims=PROFILE)))).json()
        statements.clear()
        for _ in range(5):
            again = await client.get("/me", headers=bearer(clerk_issuer.mint("user_steady", claims=PROFILE)))
            assert again.json()["updated_at"] == first["updated_at"]
        assert statements.writes == []
        assert len(statements.selects) == 5


async def test_changed_claims_update_and_absent_claims_keep(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """A changed claim updates the row with one write; absent or null claims never clear a column."""
    async with running(db_url, clerk_issuer) as (client, statements, _):
        await client.get("/me", headers=bearer(clerk_issuer.mint("user_change", claims=PROFILE)))
        statements.clear()
        changed = await client.get(
            "/me", headers=bearer(clerk_issuer.mint("user_change", claims={**PROFILE, "first_name": "Augusta"}))
        )
        assert changed.json()["first_name"] == "Augusta"
        assert len(statements.writes) == 1
        sparse = await client.get(
            "/me",
            headers=bearer(clerk_issuer.mint("user_change", claims={"email": "ada@example.com", "last_name": None})),
        )
        assert sparse.json()["first_name"] == "Augusta"
        assert sparse.json()["last_name"] == "Lovelace"


async def test_older_token_does_not_overwrite_newer(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """Versions order writes: a token with an older updated_at (or iat) never overwrites a newer one."""
    async with running(db_url, clerk_issuer) as (client, _, _):
        newer = clerk_issuer.mint("user_v", claims={**PROFILE, "first_name": "New", "updated_at": 2_000_000_000_000})
        older = clerk_issuer.mint("user_v", claims={**PROFILE, "first_name": "Old", "updated_at": 1_900_000_000})
        assert (await client.get("/me", headers=bearer(newer))).json()["first_name"] == "New"
        assert (await client.get("/me", headers=bearer(older))).json()["first_name"] == "New"
        # Without an updated_at claim, iat versions the data.
        now = time.time()
        late = clerk_issuer.mint("user_iat", claims={"first_name": "Late"}, now=now - 100, ttl=3600)
        early = clerk_issuer.mint("user_iat", claims={"first_name": "Early"}, now=now - 200, ttl=3600)
        assert (await client.get("/me", headers=bearer(late))).json()["first_name"] == "Late"
        assert (await client.get("/me", headers=bearer(early))).json()["first_name"] == "Late"


async def test_deleted_user_gets_401_and_is_not_resurrected(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """After a tombstone, the user's tokens get 401 user-deleted and the row stays deleted."""
    async with running(db_url, clerk_issuer) as (client, _, app):
        await client.get("/me", headers=bearer(clerk_issuer.mint("user_gone", claims=PROFILE)))
        database = app.state.clerk_sync.store
        await database.delete(UserDeletion("user_gone", 4_000_000_000_000))
        fresh = clerk_issuer.mint("user_gone", claims={**PROFILE, "updated_at": 5_000_000_000_000})
        response = await client.get("/me", headers=bearer(fresh))
        assert response.status_code == 401
        assert response.json()["code"] == "user-deleted"
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        async with database.sessionmaker() as session:
            row = (await session.execute(select(User).where(User.clerk_id == "user_gone"))).scalar_one()
            assert row.deleted_at is not None


async def test_guard_route_and_dependency_share_one_sync(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """A router guard plus CurrentUser in the route: one SELECT for an existing user."""
    async with running(db_url, clerk_issuer) as (client, statements, _):
        token = clerk_issuer.mint("user_guard", claims=PROFILE)
        created = await client.get("/guarded/ping", headers=bearer(token))
        assert created.status_code == 200
        statements.clear()
        assert (await client.get("/guarded/ping", headers=bearer(token))).json() == created.json()
        assert statements.kinds == ["SELECT"]


async def test_optional_user(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """OptionalUser is None without a token and the synced row with one."""
    async with running(db_url, clerk_issuer) as (client, statements, _):
        assert (await client.get("/maybe")).json() == {"id": None}
        assert statements.sql == []
        signed = await client.get("/maybe", headers=bearer(clerk_issuer.mint("user_opt")))
        assert isinstance(signed.json()["id"], int)


async def test_app_model_with_extra_column(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """An app's own model (own base, own table, extra column) works with CurrentUser."""
    app_model = running(db_url, clerk_issuer, engine=None, model=Member, migrate=False)
    async with open_engine(db_url, Member), app_model as (client, _, app):
        body = (await client.get("/me", headers=bearer(clerk_issuer.mint("user_member", claims=PROFILE)))).json()
        assert body["email"] == "ada@example.com"
        async with app.state.clerk_sync.store.sessionmaker() as session:
            member = (await session.execute(select(Member))).scalar_one()
            assert member.nickname is None
            assert member.id == body["id"]


async def test_first_sight_without_claims_fetches_profile_once(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """Clerk's default token (no profile claims) + a secret key: the profile is fetched once, on creation."""
    # Clerk's updated_at predates the token's iat (the profile was last edited an hour ago): it must still apply.
    edited = int((time.time() - 3600) * 1000)
    user = make_user_json(
        "user_bare", email="bare@example.com", first_name="Bare", last_name="Token", updated_at=edited
    )
    with FakeClerkBackend(secret_key="sk_test_fetch", users=[user]) as backend:
        settings = ClerkSettings(jwt_key=clerk_issuer.public_pem(), secret_key="sk_test_fetch", api_url=backend.url)
        async with running(db_url, clerk_issuer, settings=settings) as (client, _, _):
            for _ in range(3):
                body = (await client.get("/me", headers=bearer(clerk_issuer.mint("user_bare")))).json()
                assert body["email"] == "bare@example.com"
                assert body["first_name"] == "Bare"
        user_fetches = [r for r in backend.requests if "/v1/users/" in str(r)]
        assert len(user_fetches) == 1


@pytest.fixture
async def proxied_postgres() -> AsyncIterator[tuple[str, TcpProxy]]:
    proxy = await TcpProxy().start()
    async with temporary_postgres_database() as url:
        yield make_url(url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    await proxy.cut()


@pytest.mark.postgres
async def test_postgres_outage_is_503_then_recovers(
    proxied_postgres: tuple[str, TcpProxy], clerk_issuer: TokenIssuer
) -> None:
    """PostgreSQL unreachable: /me answers 503 database-unavailable (claims-only routes keep working);
    once it is back, /me answers 200 without restarting the service."""
    url, proxy = proxied_postgres
    token = clerk_issuer.mint("user_outage", claims=PROFILE)
    async with running(url, clerk_issuer) as (client, _, _):
        before = await client.get("/me", headers=bearer(token))
        assert before.status_code == 200
        await proxy.cut()
        during = await client.get("/me", headers=bearer(token))
        assert during.status_code == 503
        assert during.json()["code"] == "database-unavailable"
        assert int(during.headers["retry-after"]) > 0
        assert (await client.get("/claims", headers=bearer(token))).status_code == 200
        new_user = await client.get("/me", headers=bearer(clerk_issuer.mint("user_new_during_outage")))
        assert new_user.status_code == 503
        await proxy.restore()
        after = await client.get("/me", headers=bearer(token))
        assert after.status_code == 200
        assert after.json()["id"] == before.json()["id"]


def count_checkouts(app: FastAPI) -> list[object]:
    """Connections taken from the engine's pool (the session path); the user reader never takes one."""
    seen: list[object] = []
    event.listen(app.state.clerk_sync.store.engine.sync_engine.pool, "checkout", lambda *args: seen.append(1))
    return seen


async def test_steady_state_opens_no_session(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """An unchanged user is read on the driver: the engine's pool hands out no connection at all."""
    async with running(db_url, clerk_issuer) as (client, statements, app):
        token = clerk_issuer.mint("user_direct", claims=PROFILE)
        first = await client.get("/me", headers=bearer(token))
        checkouts = count_checkouts(app)
        statements.clear()
        for _ in range(5):
            assert (await client.get("/me", headers=bearer(token))).json() == first.json()
        assert checkouts == []
        assert statements.kinds == ["SELECT"] * 5


@pytest.mark.parametrize("path", ["/picture/user-first", "/picture/session-first"])
async def test_route_changes_to_the_user_commit_with_its_session(
    db_url: str, clerk_issuer: TokenIssuer, path: str
) -> None:
    """CurrentUser is bound to SessionDep whichever FastAPI resolves first, so a route's change commits."""
    async with running(db_url, clerk_issuer) as (client, _, app):
        token = clerk_issuer.mint("user_picture", claims=PROFILE)
        await client.get("/me", headers=bearer(token))  # exists: the next request takes the steady-state read
        assert (await client.post(path, headers=bearer(token))).status_code == 200
        database = app.state.clerk_sync.store
        async with database.sessionmaker() as session:
            stored = (await session.execute(select(User.image_url))).scalar_one()
        assert stored == f"https://img.example{path.removeprefix('/picture')}.png"


@pytest.mark.postgres
async def test_reader_recovers_from_dropped_connections_and_outages(
    proxied_postgres: tuple[str, TcpProxy], clerk_issuer: TokenIssuer
) -> None:
    """Dropped connections (a PostgreSQL restart) cost no failed request. During an outage the reader stands
    aside (the session path answers 503); once the back-off passes, the steady state is read directly again."""
    url, proxy = proxied_postgres
    token = clerk_issuer.mint("user_restart", claims=PROFILE)
    async with running(url, clerk_issuer) as (client, _, app):
        before = await client.get("/me", headers=bearer(token))
        await client.get("/me", headers=bearer(token))  # the reader now holds an open connection
        await proxy.cut()
        await proxy.restore()
        checkouts = count_checkouts(app)
        restarted = await client.get("/me", headers=bearer(token))
        assert restarted.json() == before.json()
        await proxy.cut()
        assert (await client.get("/me", headers=bearer(token))).status_code == 503
        await proxy.restore()
        assert (await client.get("/me", headers=bearer(token))).json() == before.json()

        async def read_directly() -> bool:
            checkouts.clear()
            assert (await client.get("/me", headers=bearer(token))).json() == before.json()
            return checkouts == []

        await eventually(read_directly, within=BACKOFF_S * 10, failure="the reader never took over again")


async def test_current_and_optional_user_in_one_request_sync_once(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """CurrentUser and OptionalUser are two dependencies but one user: the same object, one SELECT."""
    async with running(db_url, clerk_issuer) as (client, statements, _):
        token = clerk_issuer.mint("user_both", claims=PROFILE)
        await client.get("/me", headers=bearer(token))
        statements.clear()
        assert (await client.get("/both", headers=bearer(token))).json() == {"same": True}
        assert statements.kinds == ["SELECT"]


async def test_direct_reads_off_sends_every_request_through_a_session(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """``direct_reads=False``: no reader; the steady state is still one SELECT and no write, through the engine."""
    async with running(db_url, clerk_issuer, direct_reads=False) as (client, statements, app):
        assert app.state.clerk_sync.store.reader is None
        token = clerk_issuer.mint("user_sessions", claims=PROFILE)
        first = await client.get("/me", headers=bearer(token))
        checkouts = count_checkouts(app)
        statements.clear()
        assert (await client.get("/me", headers=bearer(token))).json() == first.json()
        assert statements.kinds == ["SELECT"]
        assert len(checkouts) == 1  # the store's short session checks out one connection, on both databases
