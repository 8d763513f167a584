"""The declarative base: one naming convention and one datetime type for every table clerk-sync ships.

Constraint names come from the naming convention, so PostgreSQL and SQLite get identical names and migrations
can drop or alter them by name (SQLite batch mode needs the name). Datetimes are always UTC-aware in Python:
SQLite stores no offset and hands back naive values, which would compare unequal to (and crash arithmetic with)
the aware values PostgreSQL returns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

__all__ = ["NAMING_CONVENTION", "Base", "UTCDateTime"]

#: Alembic's recommended convention (``docs/build/naming.rst``); apps may reuse it on their own metadata.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that stores UTC and always returns UTC-aware values, SQLite included.

    Naive values are refused on the way in: guessing their zone is how off-by-hours bugs get written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """SQLite drops the offset when storing, so convert to UTC first to keep the stored wall time UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime refuses naive datetimes; pass an aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """SQLite returns naive values that we wrote as UTC; PostgreSQL returns aware ones in the session zone."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[Any]:
        """Alembic and ORM introspection ask for it; the TypeDecorator default would consult ``impl``."""
        return datetime


class Base(AsyncAttrs, DeclarativeBase):
    """Base for clerk-sync's own tables; ``AsyncAttrs`` gives ``await obj.awaitable_attrs.x`` under asyncio."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012  (SQLAlchemy reads a plain class dict)
