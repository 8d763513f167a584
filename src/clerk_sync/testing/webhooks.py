"""Sign webhook bodies the way Svix signs Clerk's, so tests can post events to a real route.

The signer is written with the standard library's ``hmac`` on purpose, not with ``svix``: the library verifies
with svix, so a test kit built on the same code would only prove svix agrees with itself. Two independent
implementations that agree on the Standard Webhooks known-answer vector are a real cross-check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

__all__ = ["make_webhook_secret", "sign_event", "sign_webhook"]

_SECRET_PREFIX = "whsec_"


def make_webhook_secret(n_bytes: int = 32) -> str:
    """A fresh ``whsec_`` secret; Standard Webhooks asks for 24 to 64 random bytes."""
    if not 24 <= n_bytes <= 64:
        raise ValueError("Standard Webhooks secrets are 24 to 64 bytes")
    return _SECRET_PREFIX + base64.b64encode(secrets.token_bytes(n_bytes)).decode("ascii")


def sign_webhook(
    body: bytes,
    secret: str,
    *,
    msg_id: str | None = None,
    timestamp: float | datetime | None = None,
    header_prefix: Literal["svix", "webhook"] = "svix",
) -> dict[str, str]:
    """The three signature headers for ``body``: ``svix-id``, ``svix-timestamp``, ``svix-signature``.

    ``timestamp`` (Unix seconds or an aware ``datetime``) defaults to now; pass an old one to test the replay
    window. ``header_prefix="webhook"`` gives the Standard Webhooks names Clerk's own SDK also accepts.
    """
    msg_id = msg_id or "msg_" + secrets.token_urlsafe(18)
    if timestamp is None:
        seconds = int(time.time())
    elif isinstance(timestamp, datetime):
        seconds = int(timestamp.timestamp())
    else:
        seconds = int(timestamp)
    content = f"{msg_id}.{seconds}.".encode() + body
    digest = hmac.new(_secret_key(secret), content, hashlib.sha256).digest()
    return {
        f"{header_prefix}-id": msg_id,
        f"{header_prefix}-timestamp": str(seconds),
        f"{header_prefix}-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }


def sign_event(
    event: Mapping[str, Any],
    secret: str,
    *,
    msg_id: str | None = None,
    timestamp: float | datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Serialise a Clerk event envelope once and sign exactly those bytes; returns ``(body, headers)``.

    Returning the body matters: the signature covers these bytes, and re-serialising the dict (another key
    order, other whitespace) would produce a body the signature no longer matches.
    """
    body = json.dumps(event, separators=(",", ":")).encode()
    return body, sign_webhook(body, secret, msg_id=msg_id, timestamp=timestamp)


def _secret_key(secret: str) -> bytes:
    raw = secret.removeprefix(_SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))
