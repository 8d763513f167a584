"""What the model's fields can hold, checked before a write so the database never has to refuse a value.

The Django twin of ``clerk_sync.db.limits`` (which reads SQLAlchemy column types and so cannot be imported
here): the same refusals with the same wording, derived from Django fields instead. A ``CharField`` is bounded by
its ``max_length``, a ``TextField`` of the synced columns by ``DECLARED_LENGTHS``; SQLite enforces neither, so
both backends are checked alike. Integers are bounded by the connection's own ranges. Fields of other types are
left to the database; if it refuses, the store still reports a refusal, not an outage.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.fields import AutoFieldMixin

from clerk_sync.profile import Source, UserDeletion, UserProfile, refusal
from clerk_sync.store import DECLARED_LENGTHS

__all__ = ["MAX_JSON_DEPTH", "FieldLimits"]

#: Metadata nests a few levels; the JSON encoder recurses per level and a document this deep is no data.
MAX_JSON_DEPTH = 64

#: The synced documents are objects in Clerk's ``UserJSON``; other JSON fields may hold any JSON value.
_OBJECT_FIELDS = frozenset({"public_metadata", "private_metadata"})

Problem = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class _Rule:
    """One field's check: ``problem(value)`` says what is wrong with a non-null value, or None."""

    nullable: bool
    problem: Problem


class FieldLimits:
    """The checks for one model on one kind of database; built once per store and vendor, used before writes."""

    def __init__(self, model: type[models.Model], ledger: type[models.Model], connection: BaseDatabaseWrapper) -> None:
        self._rules = {field.attname: _rule(field, connection) for field in model._meta.concrete_fields}
        self._svix_id = _rule(ledger._meta.get_field("svix_id"), connection)
        self._event_type = _rule(ledger._meta.get_field("event_type"), connection)

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


def _rule(field: Any, connection: BaseDatabaseWrapper) -> _Rule:
    """The check for ``field`` as ``connection``'s database stores it."""
    nullable = bool(field.null)
    if field.choices:
        return _Rule(nullable, _anything)  # a closed set the app validates: the database decides
    if isinstance(field, models.JSONField):
        return _Rule(nullable, _json_object if field.attname in _OBJECT_FIELDS else _json_value)
    if isinstance(field, models.CharField | models.TextField):
        return _Rule(nullable, _text(field.max_length or DECLARED_LENGTHS.get(field.attname)))
    if isinstance(field, models.BooleanField):
        return _Rule(nullable, _boolean)
    if isinstance(field, models.IntegerField) and not isinstance(field, AutoFieldMixin):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        return _Rule(nullable, _integer(low, high))
    return _Rule(nullable, _anything)


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


def _integer(low: int | None, high: int | None) -> Problem:
    low = -(2**63) if low is None else low
    high = 2**63 - 1 if high is None else high

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
