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

from clerk_sync.claims import SessionClaims

__all__ = [
    "DEFAULT_CLAIM_MAP",
    "PROFILE_COLUMNS",
    "ClaimMapping",
    "Source",
    "UserDeletion",
    "UserProfile",
    "to_millis",
]

#: The synced columns a profile may carry (the app may map claims to extra columns of its own).
PROFILE_COLUMNS = ("email", "first_name", "last_name", "image_url", "public_metadata")

#: column -> claim, matching ``shared/fixtures/session-token-template.json``.
DEFAULT_CLAIM_MAP: Mapping[str, str] = MappingProxyType({column: column for column in PROFILE_COLUMNS})

_MILLIS_THRESHOLD = 10**12  # 2001-09-09 in ms; any second-based timestamp of our era is below it


class Source(StrEnum):
    """Where a write came from; recorded in the audit log."""

    TOKEN = "token"
    WEBHOOK = "webhook"
    BACKFILL = "backfill"
    API = "api"


@dataclass(frozen=True, slots=True)
class UserProfile:
    """One source's view of a Clerk user at ``version`` (ms); ``fields`` maps column -> value."""

    clerk_id: str
    version: int
    source: Source
    fields: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

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


def to_millis(value: object) -> int | None:
    """Normalise a Clerk timestamp that may be seconds or milliseconds (templates differ) to milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or value != value or value in (float("inf"), float("-inf")):
        return None
    if value < 0:
        return None
    return int(value) if value >= _MILLIS_THRESHOLD else int(value * 1000)


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Which session-token claim fills which column, and which claim versions the data.

    Absent or null claims are left out of the profile, so they never erase a column. Without a version claim
    the token's ``iat`` versions the data: the claims were current when Clerk issued the token.
    """

    columns: Mapping[str, str] = field(default_factory=lambda: DEFAULT_CLAIM_MAP)
    version_claim: str | None = "updated_at"

    def to_profile(self, claims: SessionClaims) -> UserProfile:
        """Map verified claims to a token-sourced profile."""
        custom = claims.custom
        fields = {
            column: value
            for column, claim in self.columns.items()
            if (value := _clean(column, custom.get(claim))) is not None
        }
        version = to_millis(custom.get(self.version_claim)) if self.version_claim else None
        return UserProfile(
            clerk_id=claims.sub,
            version=version if version is not None else claims.iat * 1000,
            source=Source.TOKEN,
            fields=MappingProxyType(fields),
        )


def _clean(column: str, value: object) -> object:
    """Templates render missing values as ``null`` or ``""``; neither is data."""
    if value is None or value == "":
        return None
    if column == "public_metadata" and not isinstance(value, dict):
        return None
    return value
