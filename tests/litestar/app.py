"""A small Litestar app on ``ClerkSyncPlugin``, as an app's own code would use it, for tests/litestar."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, get, post
from litestar.di import NamedDependency, Provide
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clerk_sync.db import User
from clerk_sync.litestar import CLERK_SECURITY, Claims, ClerkSyncPlugin, DbSession, requires_user


@get("/claims", security=CLERK_SECURITY)
async def read_claims(claims: Claims) -> dict[str, Any]:
    return {"sub": claims.sub}


@get("/guarded", guards=[requires_user])
async def guarded() -> dict[str, str]:
    return {"guard": "passed"}


@get("/both", guards=[requires_user], security=CLERK_SECURITY)
async def both(current_user: NamedDependency[User], claims: Claims) -> dict[str, Any]:
    return {"id": current_user.id, "sub": claims.sub}


@post("/rename", status_code=200)
async def rename(current_user: NamedDependency[User], db_session: DbSession) -> dict[str, Any]:
    """Changes the user through the request's session: it commits only if the user is bound to it."""
    bound = current_user in db_session
    current_user.first_name = "Renamed"
    await db_session.commit()
    stored = await db_session.scalar(select(User.first_name).where(User.id == current_user.id))
    return {"bound": bound, "first_name": stored}


@get("/crash")
async def crash(claims: Claims) -> None:
    raise RuntimeError(f"boom while holding {claims.sub}")


ROUTES = [read_claims, guarded, both, rename, crash]


def build_app(plugin: ClerkSyncPlugin) -> Litestar:
    """The test app with the plugin and nothing else of clerk-sync."""
    return Litestar(ROUTES, plugins=[plugin], logging_config=None)  # logging stays the runner's


def app_session_app(plugin: ClerkSyncPlugin, sessions: async_sessionmaker[AsyncSession]) -> Litestar:
    """An app that provides ``db_session`` itself, as Advanced Alchemy's plugin does."""

    async def own_session() -> Any:
        async with sessions() as session:
            yield session

    return Litestar([rename], plugins=[plugin], logging_config=None, dependencies={"db_session": Provide(own_session)})
