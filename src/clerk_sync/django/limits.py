"""What the model's fields can hold, checked before a write so the database never has to refuse a value.

The Django side of ``clerk_sync.limits``: the same checks as the SQLAlchemy store, with rules derived from Django
fields instead of column types. A ``CharField`` is bounded by
its ``max_length``, a ``TextField`` of the synced columns by ``DECLARED_LENGTHS``; SQLite enforces neither, so
both backends are checked alike. Integers are bounded by the connection's own ranges. Fields of other types are
left to the database; if it refuses, the store still reports a refusal, not an outage.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.fields import AutoFieldMixin

from clerk_sync.limits import OBJECT_COLUMNS, Limits, Rule, anything, boolean, integer, json_object, json_value, text
from clerk_sync.store import DECLARED_LENGTHS

__all__ = ["FieldLimits"]


class FieldLimits(Limits):
    """The checks for one model on one kind of database; built once per store and vendor, used before writes."""

    def __init__(self, model: type[models.Model], ledger: type[models.Model], connection: BaseDatabaseWrapper) -> None:
        super().__init__(
            {field.attname: _rule(field, connection) for field in model._meta.concrete_fields},
            svix_id=_rule(ledger._meta.get_field("svix_id"), connection),
            event_type=_rule(ledger._meta.get_field("event_type"), connection),
        )


def _rule(field: Any, connection: BaseDatabaseWrapper) -> Rule:
    """The check for ``field`` as ``connection``'s database stores it."""
    nullable = bool(field.null)
    if field.choices:
        return Rule(nullable, anything)  # a closed set the app validates: the database decides
    if isinstance(field, models.JSONField):
        return Rule(nullable, json_object if field.attname in OBJECT_COLUMNS else json_value)
    if isinstance(field, models.CharField | models.TextField):
        return Rule(nullable, text(field.max_length or DECLARED_LENGTHS.get(field.attname)))
    if isinstance(field, models.BooleanField):
        return Rule(nullable, boolean)
    if isinstance(field, models.IntegerField) and not isinstance(field, AutoFieldMixin):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        return Rule(nullable, integer(-(2**63) if low is None else low, 2**63 - 1 if high is None else high))
    return Rule(nullable, anything)
