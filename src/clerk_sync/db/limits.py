"""What the user model's columns can hold, checked before a write so the database never has to refuse a value.

PostgreSQL refuses a string longer than ``varchar(n)``, a NUL character in text or JSON, a lone surrogate, a
number beyond BIGINT or a value of the wrong type; SQLite stores most of these without complaint (and hands
back something else: ``42`` comes back as ``'42'``, so the steady state never matches again) and raises on
the rest in the middle of the statement. Either way the refusal would arrive as a driver error, with the value
in its message. Checking first gives both backends the same answer: a typed error from the source's own family
(``clerk_sync.profile.refusal``) naming the field, and nothing written.

The checks themselves live in ``clerk_sync.limits`` (shared with the Django store); this module derives one
rule per column. The limits come from the model's own column types, per dialect, so an app that brings its model with
``String(100)`` for ``email`` gets 100. ``Text`` has no length of its own: the mixin's columns fall back to
``DECLARED_LENGTHS``. Columns of types this module does not know (a ``TypeDecorator`` of the app's, dates,
numbers) are left to the database; if it refuses, ``clerk_sync.db.failures`` still reports a refusal, not an
outage.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ColumnElement, Enum, Integer, SmallInteger, String
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from clerk_sync.db.mixin import DECLARED_LENGTHS
from clerk_sync.db.models import ProcessedWebhook
from clerk_sync.limits import OBJECT_COLUMNS, Limits, Rule, anything, boolean, integer, json_object, json_value, text

__all__ = ["ColumnLimits"]


class ColumnLimits(Limits):
    """The checks for one model on one dialect; built once per store and dialect, used before writes."""

    def __init__(self, model: type[Any], dialect: Dialect) -> None:
        columns = sa_inspect(model).columns
        ledger = sa_inspect(ProcessedWebhook).columns
        super().__init__(
            {key: _rule(key, column, dialect) for key, column in columns.items()},
            svix_id=_rule("svix_id", ledger["svix_id"], dialect),
            event_type=_rule("event_type", ledger["event_type"], dialect),
        )


def _rule(key: str, column: ColumnElement[Any], dialect: Dialect) -> Rule:
    """The check for ``column`` as ``dialect`` stores it (a ``with_variant`` type may differ per dialect)."""
    kind: TypeEngine[Any] = column.type.dialect_impl(dialect)
    nullable = bool(getattr(column, "nullable", True))
    if isinstance(kind, TypeDecorator | Enum):
        return Rule(nullable, anything)  # the app's own conversion or a closed set: the database decides
    if isinstance(kind, String):
        return Rule(nullable, text(kind.length or DECLARED_LENGTHS.get(key)))
    if isinstance(kind, JSON):
        return Rule(nullable, json_object if key in OBJECT_COLUMNS else json_value)
    if isinstance(kind, Boolean):
        return Rule(nullable, boolean)
    if isinstance(kind, Integer):
        bits = _integer_bits(kind, dialect)
        return Rule(nullable, integer(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
    return Rule(nullable, anything)


def _integer_bits(kind: Integer, dialect: Dialect) -> int:
    if dialect.name == "sqlite" or isinstance(kind, BigInteger):
        return 64  # every SQLite INTEGER is 8 bytes
    return 16 if isinstance(kind, SmallInteger) else 32
