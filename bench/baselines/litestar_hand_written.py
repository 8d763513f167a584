"""Litestar peer (b): the handler people write by hand: verify with PyJWT, then get-or-create the user by
``clerk_id`` with SQLAlchemy (async), on the same table and database as clerk-sync (``DATABASE_URL``,
``clerk_sync.db.User``): an ``AsyncSession`` per request, select, insert on a miss, re-read after a lost race.
The pool holds ``POOL_SIZE`` connections, more than the bench's 16 concurrent requests.
``uvicorn --factory bench.baselines.litestar_hand_written:create_app``.
"""

import os
from typing import Any

from litestar import Litestar, Request, get
from litestar.exceptions import NotAuthorizedException
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from bench.baselines.pyjwt_session import SessionVerifier
from clerk_sync.db import User

__all__ = ["POOL_SIZE", "create_app"]

#: Above the load (wrk -c16): SQLAlchemy's default of 5 (+10 overflow) would close and reopen connections.
POOL_SIZE = 20


async def get_or_create(session: AsyncSession, claims: dict[str, Any]) -> User:
    user = (await session.execute(select(User).where(User.clerk_id == claims["sub"]))).scalar_one_or_none()
    if user is not None:
        return user
    user = User(clerk_id=claims["sub"], email=claims.get("email"), first_name=claims.get("first_name"))
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        user = (await session.execute(select(User).where(User.clerk_id == claims["sub"]))).scalar_one()
    return user


def create_app() -> Litestar:
    verifier = SessionVerifier()
    engine = create_async_engine(os.environ["DATABASE_URL"], pool_size=POOL_SIZE)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @get("/me")
    async def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
        claims = verifier.claims(request.headers.get("Authorization"))
        if claims is None:
            raise NotAuthorizedException("signed out")
        async with sessions() as session:
            user = await get_or_create(session, claims)
            return {"id": user.id, "clerk_id": user.clerk_id, "email": user.email}

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def dispose() -> None:
        await engine.dispose()

    return Litestar([me, healthz], on_shutdown=[dispose], logging_config=None)
