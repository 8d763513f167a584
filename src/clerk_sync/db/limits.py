"""What the user model's columns can hold, checked before a write so the database never has to refuse a value.

PostgreSQL refuses a string longer than ``varchar(n)``, a NUL character in text or JSON, a lone surrogate, a
number beyond BIGINT or a value of the wrong type; SQLite stores most of these without complaint (and hands
back something else: ``42`` comes back as ``'42'``, so the steady state never matches again) and raises on
the rest in the middle of the statement. Either way the refusal would arrive as a driver error, with the value
in its message. Checking first gives both backends the same answer: a typed error from the source's own family
(``clerk_sync.profile.refusal``) naming the field, and nothing written.

The limits come from the model's own column types, per dialect, so an app that brings its model with
``String(100)`` for ``email`` gets 100. ``Text`` has no length of its own: the mixin's columns fall back to
``DECLARED_LENGTHS``. Columns of types this module does not know (a ``TypeDecorator`` of the app's, dates,
numbers) are left to the database; if it refuses, ``clerk_sync.db.failures`` still reports a refusal, not an
outage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ColumnElement, Enum, Integer, SmallInteger, String
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from clerk_sync.db.mixin import DECLARED_LENGTHS
from clerk_sync.db.models import ProcessedWebhook
from clerk_sync.profile import Source, UserDeletion, UserProfile, refusal

__all__ = ["MAX_JSON_DEPTH", "ColumnLimits"]

#: Metadata nests a few levels; the JSON encoder recurses per level and a document this deep is no data.
MAX_JSON_DEPTH = 64

#: The mixin's documents are objects in Clerk's ``UserJSON``; other JSON columns may hold any JSON value.
_OBJECT_COLUMNS = frozenset({"public_metadata", "private_metadata"})

Problem = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class _Rule:
    """One column's check: ``problem(value)`` says what is wrong with a non-null value, or None."""

    nullable: bool
    problem: Problem


class ColumnLimits:
    """The checks for one model on one dialect; built once per store and dialect, used before writes."""

    def __init__(self, model: type[Any], dialect: Dialect) -> None:
        columns = sa_inspect(model).columns
        self._rules = {key: _rule(key, column, dialect) for key, column in columns.items()}
        ledger = sa_inspect(ProcessedWebhook).columns
        self._svix_id = _rule("svix_id", ledger["svix_id"], dialect)
        self._event_type = _rule("event_type", ledger["event_type"], dialect)

    def check_profile(self, profile: UserProfile, values: Mapping[str, Any]) -> None:
        """Raise the source's refusal when the id, the version or a value in ``values`` cannot be stored."""
        self._check(profile.source, profile.labels, "clerk_id", profile.clerk_id)
        self._check(profile.source, profile.labels, "clerk_version", profile.version)
        for key, value in values.items():
            self._check(profile.source, profile.labels, key, value)

    def check_deletion(self, deletion: UserDeletion) -> None:
        """As ``check_profile``, for a tombstone: its id and version."""
        self._check(deletion.source, deletion.labels, "clerk_id", deletion.clerk_id)
        self._check(deletion.source, deletion.labels, "clerk_version", deletion.version)

    def check_webhook(self, svix_id: str, event_type: str) -> None:
        """The ledger's columns: the Svix message id (a header) and the event type."""
        for rule, field, value in ((self._svix_id, "svix-id", svix_id), (self._event_type, "type", event_type)):
            reason = _reason(rule, value)
            if reason is not None:
                raise refusal(Source.WEBHOOK, field, reason)

    def _check(self, source: Source, labels: Mapping[str, str], key: str, value: Any) -> None:
        rule = self._rules.get(key)
        reason = None if rule is None else _reason(rule, value)
        if reason is not None:
            raise refusal(source, labels.get(key, key), reason)


def _reason(rule: _Rule, value: Any) -> str | None:
    if value is None:
        return None if rule.nullable else "must not be null"
    return rule.problem(value)


def _rule(key: str, column: ColumnElement[Any], dialect: Dialect) -> _Rule:
    """The check for ``column`` as ``dialect`` stores it (a ``with_variant`` type may differ per dialect)."""
    kind: TypeEngine[Any] = column.type.dialect_impl(dialect)
    nullable = bool(getattr(column, "nullable", True))
    if isinstance(kind, TypeDecorator | Enum):
        return _Rule(nullable, _anything)  # the app's own conversion or a closed set: the database decides
    if isinstance(kind, String):
        return _Rule(nullable, _text(kind.length or DECLARED_LENGTHS.get(key)))
    if isinstance(kind, JSON):
        return _Rule(nullable, _json_object if key in _OBJECT_COLUMNS else _json_value)
    if isinstance(kind, Boolean):
        return _Rule(nullable, _boolean)
    if isinstance(kind, Integer):
        return _Rule(nullable, _integer(_integer_bits(kind, dialect)))
    return _Rule(nullable, _anything)


def _integer_bits(kind: Integer, dialect: Dialect) -> int:
    if dialect.name == "sqlite" or isinstance(kind, BigInteger):
        return 64  # every SQLite INTEGER is 8 bytes
    return 16 if isinstance(kind, SmallInteger) else 32


def _anything(_value: Any) -> str | None:
    return None


def _text(max_length: int | None) -> Problem:
    def problem(value: Any) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        if max_length is not None and len(value) > max_length:
            return f"is longer than the {max_length} characters its column holds"
        return _text_problem(value)

    return problem


def _text_problem(value: str) -> str | None:
    """PostgreSQL stores no NUL in text or JSON; neither backend can encode a lone surrogate as UTF-8."""
    if "\x00" in value:
        return "contains a NUL character, which the database cannot store"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (it holds a lone surrogate)"
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _integer(bits: int) -> Problem:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def problem(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be an integer"
        return None if low <= value <= high else "is out of range for its column"

    return problem


def _json_object(value: Any) -> str | None:
    return _json_value(value) if isinstance(value, Mapping) else "must be a JSON object"


def _json_value(value: Any) -> str | None:
    """Walk the document (iteratively: a deep one must not exhaust the stack) for what JSON cannot hold."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if item is None or isinstance(item, bool | int):
            continue
        if isinstance(item, str):
            problem = _text_problem(item)
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else "holds a number JSON cannot represent (NaN or infinity)"
        elif isinstance(item, Mapping | list | tuple):
            if depth > MAX_JSON_DEPTH:
                return f"nests deeper than {MAX_JSON_DEPTH} levels"
            children: Iterable[Any] = item
            if isinstance(item, Mapping):
                for name in item:
                    if not isinstance(name, str):
                        return "has a key that is not a string"
                    if (problem := _text_problem(name)) is not None:
                        return problem
                children = item.values()
            pending.extend((child, depth + 1) for child in children)
            continue
        else:
            problem = "holds a value that is not JSON"
        if problem is not None:
            return problem
    return None
