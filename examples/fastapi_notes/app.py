"""A notes API on FastAPI: every note belongs to the synced user row, and only its owner can see it.

Run it with ``uvicorn --factory fastapi_notes.app:create_app`` from ``examples/`` (see README.md). The ``users``
table is clerk-sync's (its packaged migrations, applied at start by ``migrate=True``, also create the webhook
ledger); ``notes`` is the app's own and points at ``users.id``, the local database id, never the ``clerk_id``
string, so a note survives a user changing anything in Clerk.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, Field
from sqlalchemy import ForeignKey, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clerk_sync.db import DEFAULT_DATABASE_URL, ClerkUserMixin, UTCDateTime, create_engine
from clerk_sync.fastapi import ClerkSync, SessionDep, get_current_user, install_exception_handlers, webhook_router

__all__ = ["Base", "Note", "NoteIn", "NoteOut", "User", "create_app"]


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


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = ""


class NoteOut(BaseModel):
    id: int
    owner_id: int
    title: str
    body: str
    created_at: datetime


#: The user row for the verified token, typed as this app's model.
Owner = Annotated[User, Depends(get_current_user)]


async def owned_note(note_id: int, owner: Owner, session: SessionDep) -> Note:
    """The owner's note or 404: another user's note does not exist as far as this user can tell."""
    note = await session.scalar(select(Note).where(Note.id == note_id, Note.owner_id == owner.id))
    if note is None:
        raise HTTPException(status_code=404, detail="note not found")
    return note


OwnedNote = Annotated[Note, Depends(owned_note)]


def create_app(database_url: str | None = None) -> FastAPI:
    """The app; ``CLERK_*`` (a key source, ``CLERK_WEBHOOK_SIGNING_SECRET``) come from the environment."""
    engine = create_engine(database_url or os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    clerk = ClerkSync(engine=engine, model=User, migrate=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with clerk.lifespan(app):  # migrates users + the webhook ledger first
            async with engine.begin() as connection:  # then `notes` (`users` exists); use Alembic in production
                await connection.run_sync(Base.metadata.create_all)
            yield
        await engine.dispose()

    app = FastAPI(title="notes", lifespan=lifespan)
    install_exception_handlers(app)  # 401/503 from clerk-sync as problem+json
    app.include_router(webhook_router())  # POST /webhooks/clerk

    @app.post("/notes", status_code=201, response_model=NoteOut)
    async def create_note(payload: NoteIn, owner: Owner, session: SessionDep) -> Note:
        note = Note(owner_id=owner.id, title=payload.title, body=payload.body)
        session.add(note)
        await session.commit()
        return note

    @app.get("/notes", response_model=list[NoteOut])
    async def list_notes(owner: Owner, session: SessionDep) -> list[Note]:
        return list(await session.scalars(select(Note).where(Note.owner_id == owner.id).order_by(Note.id)))

    @app.get("/notes/{note_id}", response_model=NoteOut)
    async def get_note(note: OwnedNote) -> Note:
        return note

    @app.delete("/notes/{note_id}", status_code=204)
    async def delete_note(note: OwnedNote, session: SessionDep) -> Response:
        await session.delete(note)
        await session.commit()
        return Response(status_code=204)

    return app
