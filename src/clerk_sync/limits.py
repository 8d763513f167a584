"""What a user row's columns can hold, checked before a write so the database never has to refuse a value.

PostgreSQL refuses a string longer than ``varchar(n)``, a NUL character in text or JSON, a lone surrogate, a
number beyond its integer type or a value of the wrong type; SQLite stores most of these without complaint (and
hands back something else: ``42`` comes back as ``'42'``, so the steady state never matches again) and raises on
the rest in the middle of the statement. Either way the refusal would arrive as a driver error, with the value in
its message. Checking first gives every backend the same answer: a typed error from the source's own family
(``clerk_sync.profile.refusal``) naming the field, and nothing written.

This module holds the value checks and the walk over a write; it knows no ORM. Each store derives one ``Rule``
per column from its own schema (``clerk_sync.db.limits`` from SQLAlchemy column types, ``clerk_sync.django.limits``
from Django fields), so both refuse the same values with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clerk_sync.profile import Source, UserDeletion, UserProfile, refusal

__all__ = [
    "MAX_JSON_DEPTH",
    "OBJECT_COLUMNS",
    "Limits",
    "Problem",
    "Rule",
    "anything",
    "boolean",
    "integer",
    "json_object",
    "json_value",
    "text",
]

#: Metadata nests a few levels; the JSON encoder recurses per level and a document this deep is no data.
MAX_JSON_DEPTH = 64

#: The synced documents are objects in Clerk's ``UserJSON``; other JSON columns may hold any JSON value.
OBJECT_COLUMNS = frozenset({"public_metadata", "private_metadata"})

#: ``problem(value)`` says what is wrong with a non-null value, or None.
Problem = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class Rule:
    """One column's check."""

    nullable: bool
    problem: Problem

    def reason(self, value: Any) -> str | None:
        if value is None:
            return None if self.nullable else "must not be null"
        return self.problem(value)


class Limits:
    """The checks for one model on one kind of database: built once per store, used before every write."""

    def __init__(self, rules: Mapping[str, Rule], svix_id: Rule, event_type: Rule) -> None:
        self._rules = dict(rules)
        self._svix_id = svix_id
        self._event_type = event_type

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
            reason = rule.reason(value)
            if reason is not None:
                raise refusal(Source.WEBHOOK, field, reason)

    def _check(self, source: Source, labels: Mapping[str, str], key: str, value: Any) -> None:
        rule = self._rules.get(key)
        reason = None if rule is None else rule.reason(value)
        if reason is not None:
            raise refusal(source, labels.get(key, key), reason)


def anything(_value: Any) -> str | None:
    """A type this module does not know (the app's own conversion, a closed set, a date): the database decides."""
    return None


def text(max_length: int | None) -> Problem:
    def problem(value: Any) -> str | None:
        if not isinstance(value, str):
            return "must be a string"
        if max_length is not None and len(value) > max_length:
            return f"is longer than the {max_length} characters its column holds"
        return _text_problem(value)

    return problem


def _text_problem(value: str) -> str | None:
    """PostgreSQL stores no NUL in text or JSON; no backend can encode a lone surrogate as UTF-8."""
    if "\x00" in value:
        return "contains a NUL character, which the database cannot store"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (it holds a lone surrogate)"
    return None


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def integer(low: int, high: int) -> Problem:
    def problem(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool):
            return "must be an integer"
        return None if low <= value <= high else "is out of range for its column"

    return problem


def json_object(value: Any) -> str | None:
    return json_value(value) if isinstance(value, Mapping) else "must be a JSON object"


def json_value(value: Any) -> str | None:
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
