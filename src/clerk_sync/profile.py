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
from clerk_sync.errors import BackendAPIError, ClerkSyncError, TokenClaimInvalidError, WebhookFieldInvalidError

__all__ = [
    "DEFAULT_CLAIM_MAP",
    "MAX_VERSION_MS",
    "PROFILE_COLUMNS",
    "ClaimMapping",
    "Source",
    "UserDeletion",
    "UserProfile",
    "refusal",
    "to_millis",
]

#: The synced columns a profile may carry (the app may map claims to extra columns of its own).
PROFILE_COLUMNS = ("email", "first_name", "last_name", "image_url", "public_metadata")

#: column -> claim, matching ``shared/fixtures/session-token-template.json``.
DEFAULT_CLAIM_MAP: Mapping[str, str] = MappingProxyType({column: column for column in PROFILE_COLUMNS})

_MILLIS_THRESHOLD = 10**12  # 2001-09-09 in ms; any second-based timestamp of our era is below it

#: 9999-12-31T23:59:59.999Z. Versions are stored as BIGINT milliseconds; a bound far below the column's limit but
#: far above any real timestamp keeps ``updated_at: 1e300`` (or a seconds value read as milliseconds) out.
MAX_VERSION_MS = 253_402_300_799_999

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


def to_millis(value: object) -> int | None:
    """Normalise a Clerk timestamp that may be seconds or milliseconds (templates differ) to milliseconds.

    None when ``value`` is no timestamp, or lies outside 1970 to 9999 (``MAX_VERSION_MS``).
    """
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
    millis = int(value) if value >= _MILLIS_THRESHOLD else int(value * 1000)
    return millis if millis <= MAX_VERSION_MS else None


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


@dataclass(frozen=True, slots=True)
class ClaimMapping:
    """Which session-token claim fills which column, and which claim versions the data.

    Absent or null claims are left out of the profile, so they never erase a column. Without a version claim
    the token's ``iat`` versions the data: the claims were current when Clerk issued the token.
    """

    columns: Mapping[str, str] = field(default_factory=lambda: DEFAULT_CLAIM_MAP)
    version_claim: str | None = "updated_at"
    #: Column -> claim name for refusals; built once, shared by every profile this mapping makes.
    _labels: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        labels = {**self.columns, "clerk_id": "sub", "clerk_version": self.version_claim or "iat"}
        object.__setattr__(self, "_labels", MappingProxyType(labels))

    def to_profile(self, claims: SessionClaims) -> UserProfile:
        """Map verified claims to a token-sourced profile.

        Raises ``TokenClaimInvalidError`` when the version claim is present but no timestamp of 1970 to 9999
        (falling back to ``iat`` would hide a broken template). Field values are checked against the model's
        columns by the sync engine, only when they are about to be written.
        """
        custom = claims.custom
        fields = {
            column: value for column, claim in self.columns.items() if (value := custom.get(claim)) not in _NO_DATA
        }
        raw = custom.get(self.version_claim) if self.version_claim else None
        if raw is None or raw == "":
            version = claims.iat * 1000
            if not 0 <= version <= MAX_VERSION_MS:
                raise refusal(Source.TOKEN, "iat", _VERSION_REASON)
        else:
            parsed = to_millis(raw)
            if parsed is None:
                raise refusal(Source.TOKEN, self.version_claim, _VERSION_REASON)
            version = parsed
        return UserProfile(
            clerk_id=claims.sub,
            version=version,
            source=Source.TOKEN,
            fields=MappingProxyType(fields),
            labels=self._labels,
        )


#: Templates render missing values as ``null`` or ``""``; neither is data, so neither clears a column.
_NO_DATA = (None, "")

_VERSION_REASON = "is not a timestamp (seconds or milliseconds, 1970 to 9999)"
