"""Clerk webhooks: raw body and Svix headers in, a verified typed event (and a user change) out.

The HMAC itself comes from ``svix.webhooks.Webhook.sign`` (the project chose not to hand-roll the scheme), but
not ``Webhook.verify``: that method reads the wall clock (so nothing can be tested at a pinned time), raises
``ValueError``/``binascii.Error`` on a malformed signature entry instead of treating it as a non-match, and
takes ``"   "`` for a header. Headers, timestamp and the list of signatures are therefore checked here, with
the Standard Webhooks rules (5 minutes either way; any ``v1`` entry may match; other versions ignored), and
the constant-time comparison is ours.

The raw bytes are verified before any JSON parsing: nothing an unauthenticated sender controls reaches the
parser, and re-serialised JSON would not match the signature anyway.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeAlias

from svix.webhooks import Webhook

from clerk_sync.errors import (
    ClerkSyncError,
    PayloadTooLargeError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookVerificationError,
)
from clerk_sync.mapping import UserJSONError, profile_from_user_json, to_millis
from clerk_sync.profile import Source, UserDeletion, UserProfile, refusal

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "TIMESTAMP_TOLERANCE_SECONDS",
    "USER_EVENT_TYPES",
    "IgnoredEvent",
    "UserChange",
    "WebhookEvent",
    "WebhookVerifier",
    "to_user_change",
    "verify_webhook",
]

#: Clerk user payloads are a few KiB (each metadata blob is capped at 8 KiB); 1 MiB leaves room for other
#: event types while keeping an unauthenticated sender from making us hash arbitrarily large bodies.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

#: Standard Webhooks / Svix replay window, both directions.
TIMESTAMP_TOLERANCE_SECONDS = 5 * 60

#: The events that change the users table; every other type is acknowledged and ignored.
USER_EVENT_TYPES = frozenset({"user.created", "user.updated", "user.deleted"})

_SECRET_PREFIX = "whsec_"
_TIMESTAMP_RE = re.compile(r"[0-9]{1,15}")
_HEADER_NAMES = {
    "id": ("svix-id", "webhook-id"),
    "timestamp": ("svix-timestamp", "webhook-timestamp"),
    "signature": ("svix-signature", "webhook-signature"),
}


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified Clerk event; ``id`` is the Svix message id, equal on every retry (the idempotency key)."""

    id: str
    type: str
    timestamp_ms: int
    instance_id: str | None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    attributes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """An event that does not touch the users table; the route still answers 2xx so Svix stops retrying it."""

    type: str
    id: str


#: What one webhook means for the users table.
UserChange: TypeAlias = UserProfile | UserDeletion | IgnoredEvent


class WebhookVerifier:
    """Holds the decoded signing secret so a misconfigured secret is caught once, at start, not per request.

    A missing or undecodable secret raises ``WebhookNotConfiguredError`` (an ``UnavailableError``, so 503):
    the fault is ours, and a 5xx keeps Svix retrying until the secret is fixed, so no event is lost meanwhile.
    """

    __slots__ = ("_max_body_bytes", "_webhook")

    def __init__(self, secret: str | None, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._webhook = _load_secret(secret)
        self._max_body_bytes = max_body_bytes

    def verify(self, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> WebhookEvent:
        """Check size, headers, timestamp and signature of the raw body, then parse it as a Clerk event.

        ``now`` (Unix seconds) pins the clock, for tests and replays of recorded traffic.
        """
        msg_id, seconds = self.check_signature(body, headers, now=now)
        return _parse_event(body, msg_id, seconds)

    def check_signature(self, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> tuple[str, int]:
        """Authenticate the raw body without reading it; returns the message id and the signed Unix time.

        Separate from ``verify`` for callers that relay or store the body untouched (and for known-answer
        vectors, whose bodies are not Clerk events).
        """
        if len(body) > self._max_body_bytes:
            raise PayloadTooLargeError(f"webhook body exceeds {self._max_body_bytes} bytes")
        msg_id, timestamp, signatures = _read_headers(headers)
        seconds = _check_timestamp(timestamp, now)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookVerificationError("Unable to verify incoming webhook: body is not UTF-8") from None
        expected = _signature_bytes(self._webhook.sign(msg_id, datetime.fromtimestamp(seconds, UTC), text))
        if not _any_signature_matches(signatures, expected):
            raise WebhookVerificationError("Unable to verify incoming webhook: No matching signature found")
        return msg_id, seconds


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secret: str | None,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    now: float | None = None,
) -> WebhookEvent:
    """``WebhookVerifier(secret).verify(...)`` in one call, for callers holding only the secret string."""
    return WebhookVerifier(secret, max_body_bytes=max_body_bytes).verify(body, headers, now=now)


def to_user_change(event: WebhookEvent, *, include_private_metadata: bool = False) -> UserChange:
    """What ``event`` means for the users table: a profile to upsert, a tombstone, or nothing.

    ``user.created`` and ``user.updated`` are versioned by ``data.updated_at`` so a stale delivery never
    overwrites a newer row; the event timestamp is the fallback. A user event without a usable user id, or
    with a field of the wrong type, is a ``WebhookFieldInvalidError`` naming the field, rather than an ignored
    (or coerced) event: acknowledging it would silently drop a change, coercing it would erase data.
    """
    if event.type not in USER_EVENT_TYPES:
        return IgnoredEvent(type=event.type, id=event.id)
    if event.type == "user.deleted":
        clerk_id = event.data.get("id")
        if not isinstance(clerk_id, str) or not clerk_id:
            raise _field_error("data.id", "must be a non-empty string")
        return UserDeletion(clerk_id=clerk_id, version=event.timestamp_ms, labels=_DELETION_LABELS)
    try:
        return profile_from_user_json(
            event.data,
            source=Source.WEBHOOK,
            version=event.timestamp_ms,
            include_private_metadata=include_private_metadata,
            path="data.",
        )
    except UserJSONError as exc:
        raise _field_error(exc.field, exc.reason) from None


#: A deletion's id is ``data.id``; its version is the envelope's ``timestamp`` (Clerk sends no ``updated_at``).
_DELETION_LABELS: Mapping[str, str] = MappingProxyType({"clerk_id": "data.id", "clerk_version": "timestamp"})


def _field_error(field: str, reason: str) -> ClerkSyncError:
    """The same refusal the sync engine raises for a webhook value the columns cannot hold."""
    return refusal(Source.WEBHOOK, field, reason)


def _load_secret(secret: str | None) -> Webhook:
    if secret is None or not secret.strip():
        raise WebhookNotConfiguredError("Missing webhook signing secret (CLERK_WEBHOOK_SIGNING_SECRET)")
    raw = secret.strip()
    if raw.startswith(_SECRET_PREFIX):
        raw = raw[len(_SECRET_PREFIX) :]
    try:
        # Padding is optional in the wild (the reference suite has unpadded secrets); restore it, then decode
        # strictly so a typo is reported instead of silently dropping characters.
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookNotConfiguredError("CLERK_WEBHOOK_SIGNING_SECRET is not valid base64") from None
    if not key:
        raise WebhookNotConfiguredError("Missing webhook signing secret (CLERK_WEBHOOK_SIGNING_SECRET)")
    return Webhook(key)


def _read_headers(headers: Mapping[str, str]) -> tuple[str, str, str]:
    lowered = {str(name).lower(): str(value).strip() for name, value in headers.items()}
    found: dict[str, str] = {}
    missing: list[str] = []
    for part, names in _HEADER_NAMES.items():
        value = next((lowered[name] for name in names if lowered.get(name)), "")
        if value:
            found[part] = value
        else:
            missing.append(names[0])
    if missing:
        raise WebhookVerificationError(
            "Unable to verify incoming webhook: Missing required webhook headers: " + ", ".join(missing)
        )
    return found["id"], found["timestamp"], found["signature"]


def _check_timestamp(header: str, now: float | None) -> int:
    # Digits only: the signed content holds the header verbatim, and svix re-renders the timestamp as an
    # integer, so anything else ("1.5e9", "+1", leading zeros) could never have been signed as sent.
    if not _TIMESTAMP_RE.fullmatch(header) or (len(header) > 1 and header.startswith("0")):
        raise WebhookVerificationError("Unable to verify incoming webhook: Invalid Signature Headers")
    seconds = int(header)
    current = datetime.now(UTC).timestamp() if now is None else now
    if seconds < current - TIMESTAMP_TOLERANCE_SECONDS:
        raise WebhookVerificationError("Unable to verify incoming webhook: Message timestamp too old")
    if seconds > current + TIMESTAMP_TOLERANCE_SECONDS:
        raise WebhookVerificationError("Unable to verify incoming webhook: Message timestamp too new")
    return seconds


def _signature_bytes(versioned: str) -> bytes:
    return base64.b64decode(versioned.partition(",")[2])


def _any_signature_matches(header: str, expected: bytes) -> bool:
    """Every entry is examined and malformed ones count as non-matching: during secret rotation Svix sends
    several, and one garbled entry must neither crash the route nor hide a valid one.
    """
    matched = False
    for entry in header.split():
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        matched |= hmac.compare_digest(candidate, expected)
    return matched


def _parse_event(body: bytes, msg_id: str, header_seconds: int) -> WebhookEvent:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookPayloadError("webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookPayloadError("webhook body is not a JSON object")
    event_type = payload.get("type")
    data = payload.get("data")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookPayloadError("webhook body has no string 'type'")
    if not isinstance(data, dict):
        raise WebhookPayloadError("webhook body has no object 'data'")
    timestamp_ms = _event_timestamp(payload.get("timestamp"), event_type)
    instance_id = payload.get("instance_id")
    attributes = payload.get("event_attributes")
    return WebhookEvent(
        id=msg_id,
        type=event_type,
        # Clerk documents milliseconds but its own examples show seconds; without either, the signed header
        # time is still a trustworthy version for ordering.
        timestamp_ms=timestamp_ms if timestamp_ms is not None else header_seconds * 1000,
        instance_id=instance_id if isinstance(instance_id, str) else None,
        data=MappingProxyType(data),
        attributes=MappingProxyType(attributes if isinstance(attributes, dict) else {}),
    )


def _event_timestamp(value: object, event_type: str) -> int | None:
    """The envelope's ``timestamp`` in ms; None when absent (the signed header time stands in).

    For user events it versions the change, so a value that is present but no integer timestamp of 1970 to
    9999 is refused rather than replaced by the header time; other events only pass through and keep the
    lenient reading.
    """
    if value is None:
        return None
    millis = to_millis(value) if isinstance(value, int) and not isinstance(value, bool) else None
    if millis is None and event_type in USER_EVENT_TYPES:
        raise _field_error("timestamp", "must be an integer timestamp (seconds or milliseconds, 1970 to 9999)")
    return millis if millis is not None else to_millis(value)
