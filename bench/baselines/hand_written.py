"""Baseline (b): verify with ``fastapi-clerk-auth``, then select the user by ``clerk_id`` with SQLAlchemy and
insert on a miss: the route people write by hand. Same table and database as clerk-sync (``DATABASE_URL``).
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi_clerk_auth import ClerkConfig, ClerkHTTPBearer, HTTPAuthorizationCredentials
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from clerk_sync.db import User


def create_app() -> FastAPI:
    guard = ClerkHTTPBearer(config=ClerkConfig(jwks_url=os.environ["BENCH_JWKS_URL"]))
    engine = create_async_engine(os.environ["DATABASE_URL"])
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/me")
    async def me(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(guard)]) -> dict[str, Any]:
        claims = (credentials.decoded if credentials else None) or {}
        async with sessions() as session:
            user = (await session.execute(select(User).where(User.clerk_id == claims["sub"]))).scalar_one_or_none()
            if user is None:
                user = User(clerk_id=claims["sub"], email=claims.get("email"), first_name=claims.get("first_name"))
                session.add(user)
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                    user = (await session.execute(select(User).where(User.clerk_id == claims["sub"]))).scalar_one()
            return {"id": user.id, "clerk_id": user.clerk_id, "email": user.email}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
