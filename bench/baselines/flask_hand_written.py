"""Flask peer (b): the view people write by hand: verify with PyJWT, then get-or-create the user by ``clerk_id``
with SQLAlchemy (sync), on the same table and database as clerk-sync (``DATABASE_URL``, ``clerk_sync.db.User``).

A scoped session per request (``sessionmaker``), select by ``clerk_id``, insert on a miss and re-read after a
lost race: the usual get-or-create. The pool holds ``POOL_SIZE`` connections, more than the bench's 16
concurrent requests, so none is opened while measured. ``gunicorn
'bench.baselines.flask_hand_written:create_app()'``.
"""

import os
from typing import Any

from flask import Flask, abort, request
from sqlalchemy import create_engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bench.baselines.pyjwt_session import SessionVerifier
from clerk_sync.db import User
from clerk_sync.db.engine import sync_url

__all__ = ["POOL_SIZE", "create_app"]

#: Above the load (wrk -c16): SQLAlchemy's default of 5 (+10 overflow) would close and reopen connections.
POOL_SIZE = 20


def get_or_create(session: Session, claims: dict[str, Any]) -> User:
    user = session.execute(select(User).where(User.clerk_id == claims["sub"])).scalar_one_or_none()
    if user is not None:
        return user
    user = User(clerk_id=claims["sub"], email=claims.get("email"), first_name=claims.get("first_name"))
    session.add(user)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        user = session.execute(select(User).where(User.clerk_id == claims["sub"])).scalar_one()
    return user


def create_app() -> Flask:
    verifier = SessionVerifier()
    url = sync_url(os.environ["DATABASE_URL"])
    sessions = sessionmaker(create_engine(url, pool_size=POOL_SIZE), expire_on_commit=False)
    app = Flask(__name__)

    @app.get("/me")
    def me() -> dict[str, Any]:
        claims = verifier.claims(request.headers.get("Authorization"))
        if claims is None:
            abort(401)
        with sessions() as session:
            user = get_or_create(session, claims)
            return {"id": user.id, "clerk_id": user.clerk_id, "email": user.email}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
