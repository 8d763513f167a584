"""A notes API on Litestar: every note belongs to the synced user row, and only its owner can see it.

Run it with ``uvicorn --factory litestar_notes.app:create_app`` from ``examples/`` (see README.md).
``ClerkSyncPlugin`` brings the lifespan, the ``current_user`` and ``db_session`` dependencies and ``POST
/webhooks/clerk``; its migrations (``migrate=True``) create ``users`` and the webhook ledger, then the app's start-
up hook adds ``notes``, whose ``owner_id`` points at ``users.id``: the local database id, never the ``clerk_id``
string.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Litestar, Router, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody
from msgspec import Meta
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clerk_sync.db import DEFAULT_DATABASE_URL, ClerkUserMixin, UTCDateTime, create_engine
from clerk_sync.litestar import ClerkSyncPlugin, DbSession, requires_user

__all__ = ["Base", "Note", "NoteIn", "User", "create_app"]


class Base(DeclarativeBase):
    """The app's own declarative base: clerk-sync's columns come from the mixin, not from its base."""


class User(ClerkUserMixin, Base):
    """The synced user. ``users`` is the table clerk-sync's migrations create, so the columns match them."""

    __tablename__ = "users"


class Note(Base):
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


@dataclass
class NoteIn:
    title: Annotated[str, Meta(min_length=1, max_length=200)]  # a 400 otherwise
    body: str = ""


#: The user row for the verified token, typed as this app's model.
Owner = NamedDependency[User]


async def owned_note(note_id: FromPath[int], current_user: Owner, db_session: DbSession) -> Note:
    """The owner's note or 404: another user's note does not exist as far as this user can tell."""
    note = await db_session.scalar(select(Note).where(Note.id == note_id, Note.owner_id == current_user.id))
    if note is None:
        raise NotFoundException("note not found")
    return note


@post()
async def create_note(data: JSONBody[NoteIn], current_user: Owner, db_session: DbSession) -> dict[str, Any]:
    note = Note(owner_id=current_user.id, title=data.title, body=data.body)
    db_session.add(note)
    await db_session.commit()
    return note.as_json()


@get()
async def list_notes(current_user: Owner, db_session: DbSession) -> list[dict[str, Any]]:
    notes = await db_session.scalars(select(Note).where(Note.owner_id == current_user.id).order_by(Note.id))
    return [note.as_json() for note in notes]


@get("/{note_id:int}", dependencies={"note": Provide(owned_note)})
async def get_note(note: NamedDependency[Note]) -> dict[str, Any]:
    return note.as_json()


@delete("/{note_id:int}", dependencies={"note": Provide(owned_note)})
async def delete_note(note: NamedDependency[Note], db_session: DbSession) -> None:
    await db_session.delete(note)
    await db_session.commit()


def create_app(database_url: str | None = None) -> Litestar:
    """The app; ``CLERK_*`` (a key source, ``CLERK_WEBHOOK_SIGNING_SECRET``) come from the environment."""
    engine = create_engine(database_url or os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))

    async def create_tables() -> None:  # after the plugin's migrations; use Alembic in production
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)

    notes = Router("/notes", route_handlers=[create_note, list_notes, get_note, delete_note], guards=[requires_user])
    return Litestar(
        [notes],
        plugins=[ClerkSyncPlugin(engine=engine, model=User, migrate=True)],  # + POST /webhooks/clerk
        on_startup=[create_tables],
        on_shutdown=[engine.dispose],
    )
