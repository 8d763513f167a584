"""Flask-SQLAlchemy: the app's own ``db.Model`` extends ``ClerkUserMixin``, ``ClerkSync(db=db, model=...)`` syncs
it, and ``current_user`` is attached to ``db.session``, so relationships load and the route's changes commit in
the app's own unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from clerk_sync.db import ClerkUserMixin, ProcessedWebhook
from clerk_sync.flask import ClerkSync, clerk_required, current_user, state_of
from clerk_sync.issuer import TokenIssuer
from tests.flask.conftest import json_of, settings_for


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Account(ClerkUserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "accounts"
    nickname: Mapped[str | None] = mapped_column(String(40))
    notes: Mapped[list[Note]] = relationship(back_populates="account", order_by="Note.id")


class Note(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    text: Mapped[str] = mapped_column(String(100))
    account: Mapped[Account] = relationship(back_populates="notes")


@pytest.fixture
def app(tmp_path: Path, clerk_issuer: TokenIssuer) -> Iterator[Flask]:
    """A Flask-SQLAlchemy app on an SQLite file: its tables by ``db.create_all``, clerk-sync's ledger beside them."""
    flask_app = Flask(__name__)
    flask_app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'app.db'}"
    db.init_app(flask_app)
    with flask_app.app_context():
        db.create_all()
        ProcessedWebhook.metadata.create_all(db.engine, tables=[ProcessedWebhook.__table__])  # type: ignore[list-item]  # what the packaged migration creates for webhooks
    ClerkSync(flask_app, db=db, model=Account, settings=settings_for(clerk_issuer))

    @flask_app.post("/notes")
    @clerk_required
    def add_note() -> dict[str, Any]:
        current_user.notes.append(Note(text="hello"))
        current_user.nickname = "ada"
        db.session.commit()
        return {"id": current_user.id}

    @flask_app.get("/notes")
    @clerk_required
    def list_notes() -> dict[str, Any]:
        return {"nickname": current_user.nickname, "notes": [note.text for note in current_user.notes]}

    yield flask_app
    state_of(flask_app).close()
    with flask_app.app_context():
        db.engine.dispose()


def test_current_user_is_the_apps_model_on_db_session(app: Flask, clerk_issuer: TokenIssuer) -> None:
    """The synced row is an ``Account``; a relationship appended and a column changed through ``current_user``
    commit with ``db.session.commit()``, and the next request (a fresh session) reads them back."""
    headers = {"Authorization": f"Bearer {clerk_issuer.mint('user_fsa', claims={'email': 'f@example.com'})}"}
    client = app.test_client()
    created = client.post("/notes", headers=headers)
    assert created.status_code == 200, created.text
    listed = client.get("/notes", headers=headers)
    assert json_of(listed) == {"nickname": "ada", "notes": ["hello"]}
    with app.app_context():
        account = db.session.scalars(db.select(Account)).one()
        assert (account.clerk_id, account.email, account.id) == ("user_fsa", "f@example.com", json_of(created)["id"])
