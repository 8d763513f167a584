"""How Clerk's data becomes a ``UserProfile``: session-token claims, Clerk's User JSON, Clerk's timestamps.

One home for every mapping rule, so the request path, webhooks, backfill and the Backend API cannot read the
same Clerk field two ways (a field mapped differently on two paths would make one undo what the other wrote):

- ``ClaimMapping``: which session-token claim fills which column; absent or null claims never erase data.
- ``profile_from_user_json``: Clerk's ``User`` object (webhook ``data``, Backend API bodies). Unlike a token,
  a User object is Clerk's complete record: a key present with ``null`` means the value was cleared, so it
  becomes an explicit ``None``; a key absent altogether is left out and never erases a column. A key present
  with a value of the wrong type is refused (``UserJSONError``), never coerced: reading ``first_name: 42`` as
  "cleared" would erase real data on the word of a malformed body. What Clerk's ``UserJSON`` allows: strings
  or ``null`` for the names, the image URL and the primary address id; a list of address objects; an object
  (or ``null``) for each metadata; integer millisecond timestamps.
- ``to_millis``: Clerk timestamps in seconds or milliseconds (templates differ) as milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from clerk_sync.claims import SessionClaims
from clerk_sync.profile import Source, UserProfile, refusal

__all__ = [
    "DEFAULT_CLAIM_MAP",
    "MAX_VERSION_MS",
    "PROFILE_COLUMNS",
    "ClaimMapping",
    "UserJSONError",
    "primary_email",
    "profile_from_user_json",
    "to_millis",
]

PROFILE_COLUMNS = ("email", "first_name", "last_name", "image_url", "public_metadata")

#: column -> claim: the names the session-token template in ``tests/fixtures/session-token-template.json`` gives
#: (paste it into the Clerk Dashboard: Sessions, Customize session token).
DEFAULT_CLAIM_MAP: Mapping[str, str] = MappingProxyType({column: column for column in PROFILE_COLUMNS})

_MILLIS_THRESHOLD = 10**12  # 2001-09-09 in ms; any second-based timestamp of our era is below it

#: 9999-12-31T23:59:59.999Z. Versions are stored as BIGINT milliseconds; a bound far below the column's limit but
#: far above any real timestamp keeps ``updated_at: 1e300`` (or a seconds value read as milliseconds) out.
MAX_VERSION_MS = 253_402_300_799_999


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
