"""A newcomer's first run of the README's FastAPI app on a fresh SQLite file (issue 15).

Before, the app started and its first ``/me`` answered 503 ``database-unavailable`` (``no such table: users``),
which looks like an outage. Now the app either migrates at start (``migrate=True``) or does not start at all,
with one line naming the table, ``clerk-sync db upgrade`` and ``migrate=True``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette

from clerk_sync.errors import ConfigurationError
from clerk_sync.fastapi import ClerkSync, CurrentUser, install_exception_handlers
from clerk_sync.issuer import TokenIssuer
from clerk_sync.settings import ClerkSettings
from clerk_sync.starlette import clerk_lifespan
from tests.asgi import serving
from tests.databases import sqlite_url

pytestmark = pytest.mark.anyio


def readme_app(url: str, issuer: TokenIssuer, *, migrate: bool = False) -> FastAPI:
    """The README's "Using it in an app" block, on ``url``."""
    clerk = ClerkSync(ClerkSettings(jwt_key=issuer.public_pem(), _env_file=None), database_url=url, migrate=migrate)
    app = FastAPI(lifespan=clerk.lifespan)
    install_exception_handlers(app)

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, object]:
        return {"id": user.id, "email": user.email}

    return app


async def test_an_unmigrated_database_stops_the_app_at_start_naming_the_fix(
    tmp_path: Path, clerk_issuer: TokenIssuer
) -> None:
    """Without ``migrate=True`` on a database that has no ``users`` table, the lifespan fails at start with a
    ``ConfigurationError`` saying which table is missing and the two ways to create it (never a 503 later)."""
    app = readme_app(sqlite_url(tmp_path), clerk_issuer)
    with pytest.raises(ConfigurationError) as raised:
        async with serving(app):
            pass
    message = str(raised.value)
    assert "'users' does not exist" in message
    assert "clerk-sync db upgrade" in message
    assert "migrate=True" in message


async def test_migrate_true_makes_the_first_request_work(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """``ClerkSync(..., migrate=True)`` on a fresh SQLite file: the first ``/me`` is 200 with a real row."""
    app = readme_app(sqlite_url(tmp_path), clerk_issuer, migrate=True)
    async with serving(app) as client:
        token = clerk_issuer.mint("user_first_run", claims={"email": "first@example.com"})
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "first@example.com"


async def test_an_unreachable_database_still_starts(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """The check tells a missing table from an outage: an SQLite file in a directory that does not exist (the
    driver cannot open it) lets the app start, and the request gets the outage's 503, as before."""
    app = readme_app(sqlite_url(tmp_path / "missing-directory"), clerk_issuer)
    async with serving(app) as client:
        token = clerk_issuer.mint("user_outage")
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["code"]) == (503, "database-unavailable")


async def test_the_starlette_lifespan_checks_the_same_way(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """``clerk_lifespan`` (Starlette) stops at start on the same missing table, with the same line."""
    settings = ClerkSettings(jwt_key=clerk_issuer.public_pem(), _env_file=None)
    app = Starlette(lifespan=clerk_lifespan(settings, database_url=sqlite_url(tmp_path)))
    with pytest.raises(ConfigurationError, match="'users' does not exist"):
        async with app.router.lifespan_context(app):
            pass
