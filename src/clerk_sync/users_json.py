"""Clerk's ``User`` JSON (webhook ``data``, Backend API bodies) to a ``UserProfile``, by one set of rules.

Webhooks and the Backend API send the same object, so both paths share this module rather than each reading
the JSON its own way; a field mapped differently on the two paths would make a backfill undo what a webhook
wrote.

Unlike a session token, a User object is Clerk's complete record: a key that is present with ``null`` means
the value was cleared, so it becomes an explicit ``None``. A key that is absent altogether (an older API
version, a trimmed payload) is left out of the profile and therefore never erases a column.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from clerk_sync.profile import Source, UserProfile, to_millis

__all__ = ["primary_email", "profile_from_user_json"]

_TEXT_FIELDS = ("first_name", "last_name", "image_url")


def profile_from_user_json(
    user: Mapping[str, Any],
    *,
    source: Source,
    version: int | None = None,
    include_private_metadata: bool = False,
) -> UserProfile:
    """Map a Clerk User object to a profile versioned by its ``updated_at`` (ms), else by ``version``.

    ``version`` is the caller's fallback (a webhook's event timestamp), used only when the object carries no
    usable ``updated_at``. ``private_metadata`` is opt-in because it is the one field Clerk hides from the
    frontend; copying it into a table other code reads should be a decision, not a default.

    Raises ``ValueError`` (mapped by each caller onto its own error: a bad webhook is the sender's fault, a
    bad API answer is Clerk's) when the object has no string ``id`` or no version can be determined.
    """
    if not isinstance(user, Mapping):
        raise ValueError("a Clerk user must be a JSON object")
    clerk_id = user.get("id")
    if not isinstance(clerk_id, str) or not clerk_id:
        raise ValueError("a Clerk user needs a non-empty string 'id'")
    updated = to_millis(user.get("updated_at"))
    if updated is None:
        updated = version
    if updated is None:
        raise ValueError(f"user {clerk_id} has no usable 'updated_at' to version it")

    fields: dict[str, Any] = {}
    if "primary_email_address_id" in user or "email_addresses" in user:
        fields["email"] = primary_email(user)
    for name in _TEXT_FIELDS:
        if name in user:
            value = user[name]
            fields[name] = value if isinstance(value, str) else None
    metadata_names = ("public_metadata", "private_metadata") if include_private_metadata else ("public_metadata",)
    for name in metadata_names:
        if name in user:
            value = user[name]
            fields[name] = dict(value) if isinstance(value, Mapping) else {}
    return UserProfile(clerk_id=clerk_id, version=updated, source=source, fields=MappingProxyType(fields))


def primary_email(user: Mapping[str, Any]) -> str | None:
    """The address whose id is ``primary_email_address_id``; ``None`` when Clerk names none or lists none.

    The first address is not a safe guess: Clerk's own examples show a primary id with an empty list, and a
    user may own several addresses, only one of which is the one they sign in with.
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
