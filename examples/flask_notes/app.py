"""A notes API on Flask with Flask-SQLAlchemy: every note belongs to the synced user row, only its owner sees it.

Run it with ``flask --app flask_notes.app run`` from ``examples/`` (see README.md). clerk-sync's migrations
(``migrate=True``) create ``users`` and the webhook ledger; ``db.create_all()`` then adds the app's ``notes``,
whose ``owner_id`` points at ``users.id``: the local database id, never the ``clerk_id`` string.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, abort, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clerk_sync.db import ClerkUserMixin, UTCDateTime
from clerk_sync.flask import ClerkSync, clerk_required, current_user, webhook_blueprint

__all__ = ["Note", "User", "create_app", "db"]


class Base(DeclarativeBase):
    """The app's declarative base; clerk-sync's columns come from the mixin."""


db = SQLAlchemy(model_class=Base)


class User(ClerkUserMixin, db.Model):  # type: ignore[name-defined,misc]  # db.Model is built at run time
    """The synced user, on the ``users`` table clerk-sync's migrations create."""

    __tablename__ = "users"


class Note(db.Model):  # type: ignore[name-defined,misc]
    """A note; ``ON DELETE CASCADE`` only matters if you ever hard-delete a user (clerk-sync tombstones them)."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text(), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=lambda: datetime.now(UTC))

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "title": self.title,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


def owned_note(note_id: int) -> Note:
    """The current user's note or 404: another user's note does not exist as far as this user can tell."""
    note: Note | None = db.session.scalar(db.select(Note).filter_by(id=note_id, owner_id=current_user.id))
    if note is None:
        abort(404)
    return note


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app; ``CLERK_*`` and ``SQLALCHEMY_DATABASE_URI`` from ``config``, else from the environment."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ.get("SQLALCHEMY_DATABASE_URI", "sqlite:///notes.db")
    app.config.update(config or {})
    db.init_app(app)
    ClerkSync(app, db=db, model=User, migrate=True, all_errors=True)  # all_errors: 404s are problem+json too
    with app.app_context():
        db.create_all()  # `notes` (`users` exists); use Flask-Migrate in production
    app.register_blueprint(webhook_blueprint())  # POST /webhooks/clerk

    @app.post("/notes")
    @clerk_required
    def create_note() -> tuple[dict[str, Any], int]:
        payload = request.get_json(force=True, silent=True) or {}
        title = payload.get("title")
        if not isinstance(title, str) or not 1 <= len(title) <= 200:
            abort(422)
        note = Note(owner_id=current_user.id, title=title, body=str(payload.get("body", "")))
        db.session.add(note)
        db.session.commit()
        return note.as_json(), 201

    @app.get("/notes")
    @clerk_required
    def list_notes() -> list[dict[str, Any]]:
        notes = db.session.scalars(db.select(Note).filter_by(owner_id=current_user.id).order_by(Note.id))
        return [note.as_json() for note in notes]

    @app.get("/notes/<int:note_id>")
    @clerk_required
    def get_note(note_id: int) -> dict[str, Any]:
        return owned_note(note_id).as_json()

    @app.delete("/notes/<int:note_id>")
    @clerk_required
    def delete_note(note_id: int) -> tuple[str, int]:
        db.session.delete(owned_note(note_id))
        db.session.commit()
        return "", 204

    return app
