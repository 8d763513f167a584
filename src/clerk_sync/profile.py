"""What every source (token, webhook, backfill, Backend API) hands the sync engine: a versioned profile.

The profile carries only the columns its source actually knows. A token whose template lacks ``last_name`` must
not clear the column, while a webhook saying ``last_name: null`` must; so "absent" is a missing key and "cleared"
is an explicit ``None``. Versions are milliseconds since the epoch and order all writes to one user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from clerk_sync.errors import BackendAPIError, ClerkSyncError, TokenClaimInvalidError, WebhookFieldInvalidError

__all__ = ["Source", "UserDeletion", "UserProfile", "refusal"]

_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class Source(StrEnum):
    """Where a write came from; recorded in the audit log."""

    TOKEN = "token"
    WEBHOOK = "webhook"
    BACKFILL = "backfill"
    API = "api"


@dataclass(frozen=True, slots=True)
class UserProfile:
    """One source's view of a Clerk user at ``version`` (ms); ``fields`` maps column -> value.

    ``labels`` maps a column (and ``clerk_id``, ``clerk_version``) to what the source calls it (the claim
    ``email``, the webhook field ``data.email_addresses``), so a refusal names what the sender can fix.
    """

    clerk_id: str
    version: int
    source: Source
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS, compare=False, repr=False)

    @property
    def has_profile_data(self) -> bool:
        """False for Clerk's default token, which names the user but says nothing about them."""
        return bool(self.fields)


@dataclass(frozen=True, slots=True)
class UserDeletion:
    """Tombstone ``clerk_id`` as of ``version`` (ms): a ``user.deleted`` event (Clerk sends no ``updated_at``
    for a deleted user, so the event time versions it), a prune, or an admin action."""

    clerk_id: str
    version: int
    source: Source = Source.WEBHOOK
    labels: Mapping[str, str] = field(default_factory=lambda: _NO_LABELS, compare=False, repr=False)


def refusal(source: Source, field: str | None, reason: str) -> ClerkSyncError:
    """The typed error for a value from ``source`` that the user row cannot hold; never quotes the value.

    The sender decides the class: a token's claim is the request's credential (401, so the client does not
    retry it as an outage), a webhook's field is the sender's body (400), a Backend API answer is Clerk's.
    ``field`` is the source's own name for the value (``email``, ``data.first_name``), None when the database
    refused a value without saying which.
    """
    if source is Source.TOKEN:
        subject = f"The {field} claim" if field else "A claim of the session token"
        return TokenClaimInvalidError(f"{subject} {reason}.", claim=field)
    if source is Source.WEBHOOK:
        subject = f"The webhook field {field}" if field else "A field of the webhook"
        return WebhookFieldInvalidError(f"{subject} {reason}.", field=field)
    subject = f"The Clerk user's {field}" if field else "A field of the Clerk user"
    return BackendAPIError(f"{subject} {reason}.")
