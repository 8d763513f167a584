"""Clerk's ``User`` JSON (webhook ``data``, Backend API bodies) to a ``UserProfile``, by one set of rules.

Webhooks and the Backend API send the same object, so both paths share this module rather than each reading
the JSON its own way; a field mapped differently on the two paths would make a backfill undo what a webhook
wrote.

Unlike a session token, a User object is Clerk's complete record: a key that is present with ``null`` means
the value was cleared, so it becomes an explicit ``None``. A key that is absent altogether (an older API
version, a trimmed payload) is left out of the profile and therefore never erases a column.

A key that is present with a value of the wrong type is refused (``UserJSONError``), never coerced: reading
``first_name: 42`` as "cleared" or ``email_addresses: "x"`` as "no address" would erase real data on the word
of a malformed body. What Clerk's ``UserJSON`` allows: strings or ``null`` for the names, the image URL and the
primary address id; a list of address objects; an object (or ``null``) for each metadata; integer
millisecond timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from clerk_sync.profile import Source, UserProfile, to_millis

__all__ = ["UserJSONError", "primary_email", "profile_from_user_json"]

_TEXT_FIELDS = ("first_name", "last_name", "image_url")
_METADATA_FIELDS = ("public_metadata", "private_metadata")

#: The field each synced column is read from (for refusals that name what the sender can fix).
_SOURCE_FIELDS = {
    "clerk_id": "id",
    "clerk_version": "updated_at",
    "email": "email_addresses",
    **{name: name for name in (*_TEXT_FIELDS, *_METADATA_FIELDS)},
}


class UserJSONError(ValueError):
    """A User object Clerk would never send: ``field`` (e.g. ``data.first_name``) names the culprit, the
    message never quotes its value. A ``ValueError``, so callers that treat any unusable object alike may."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} {reason}")
        self.field = field
        self.reason = reason


def profile_from_user_json(
    user: Mapping[str, Any],
    *,
    source: Source,
    version: int | None = None,
    include_private_metadata: bool = False,
    path: str = "",
) -> UserProfile:
    """Map a Clerk User object to a profile versioned by its ``updated_at`` (ms), else by ``version``.

    ``version`` is the caller's fallback (a webhook's event timestamp), used only when the object carries no
    ``updated_at`` (absent or null). ``private_metadata`` is opt-in because it is the one field Clerk hides
    from the frontend; copying it into a table other code reads should be a decision, not a default. ``path``
    prefixes every field name in refusals and in the profile's labels (``"data."`` for a webhook's body).

    Raises ``UserJSONError`` (a ``ValueError``, mapped by each caller onto its own error: a bad webhook is the
    sender's fault, a bad API answer is Clerk's) when the object has no string ``id``, a field of the wrong
    type, or no version can be determined.
    """
    if not isinstance(user, Mapping):
        raise UserJSONError(path.rstrip(".") or "user", "must be a JSON object")
    clerk_id = user.get("id")
    if not isinstance(clerk_id, str) or not clerk_id:
        raise UserJSONError(f"{path}id", "must be a non-empty string")
    updated = _timestamp(user, "updated_at", path)
    if updated is None:
        updated = version
    if updated is None:
        raise UserJSONError(f"{path}updated_at", "is missing, and no event timestamp can version the user")

    fields: dict[str, Any] = {}
    if "primary_email_address_id" in user or "email_addresses" in user:
        fields["email"] = _primary_email(user, path)
    for name in _TEXT_FIELDS:
        if name in user:
            fields[name] = _optional_str(user, name, path)
    metadata_names = _METADATA_FIELDS if include_private_metadata else _METADATA_FIELDS[:1]
    for name in metadata_names:
        if name in user:
            value = user[name]
            if value is not None and not isinstance(value, Mapping):
                raise UserJSONError(f"{path}{name}", "must be an object or null")
            fields[name] = dict(value) if value is not None else {}
    labels = MappingProxyType({column: path + name for column, name in _SOURCE_FIELDS.items()})
    return UserProfile(
        clerk_id=clerk_id, version=updated, source=source, fields=MappingProxyType(fields), labels=labels
    )


def primary_email(user: Mapping[str, Any]) -> str | None:
    """The address whose id is ``primary_email_address_id``; ``None`` when Clerk names none or lists none.

    The first address is not a safe guess: Clerk's own examples show a primary id with an empty list, and a
    user may own several addresses, only one of which is the one they sign in with. Lenient (wrong types read
    as "no address"); ``profile_from_user_json`` checks the types first.
    """
    primary_id = user.get("primary_email_address_id")
    addresses = user.get("email_addresses")
    if not isinstance(primary_id, str) or not isinstance(addresses, list):
        return None
    for entry in addresses:
        if isinstance(entry, Mapping) and entry.get("id") == primary_id:
            address = entry.get("email_address")
            return address if isinstance(address, str) and address else None
    return None


def _primary_email(user: Mapping[str, Any], path: str) -> str | None:
    """``primary_email`` after refusing the shapes it would otherwise read as "no address"."""
    _optional_str(user, "primary_email_address_id", path)
    addresses = user.get("email_addresses")
    if addresses is not None and not isinstance(addresses, list):
        raise UserJSONError(f"{path}email_addresses", "must be a list of email address objects")
    for index, entry in enumerate(addresses or ()):
        where = f"{path}email_addresses[{index}]"
        if not isinstance(entry, Mapping):
            raise UserJSONError(where, "must be an email address object")
        if not isinstance(entry.get("id"), str):
            raise UserJSONError(f"{where}.id", "must be a string")
        if not isinstance(entry.get("email_address"), str | None):
            raise UserJSONError(f"{where}.email_address", "must be a string or null")
    return primary_email(user)


def _optional_str(user: Mapping[str, Any], name: str, path: str) -> str | None:
    value = user.get(name)
    if value is not None and not isinstance(value, str):
        raise UserJSONError(f"{path}{name}", "must be a string or null")
    return value


def _timestamp(user: Mapping[str, Any], name: str, path: str) -> int | None:
    """An integer millisecond timestamp, or None when absent or null (the caller then falls back)."""
    value = user.get(name)
    if value is None:
        return None
    millis = to_millis(value) if isinstance(value, int) and not isinstance(value, bool) else None
    if millis is None:
        raise UserJSONError(f"{path}{name}", "must be an integer timestamp (milliseconds, 1970 to 9999)")
    return millis
