"""Finding the session token in a request, framework-free.

Clerk's rule (``@clerk/backend`` ``tokens/request.ts``): the ``Authorization`` header wins; ``Bearer <t>`` or a bare
value without a space is a token, any other scheme (``Basic ...``) is not. Without a header token, the session
cookie, read together with the ``__client_uat`` cookie that says when the browser's Clerk client last changed
(``tokens/authenticateContext.ts``). Anything larger than ``MAX_TOKEN_BYTES`` is refused before it reaches a parser.

Several Clerk apps on one domain (or on ``localhost``) would overwrite each other's ``__session``, so clerk-js
also writes ``__session_<suffix>`` and ``__client_uat_<suffix>``, the suffix derived from the publishable key
(``cookie_suffix``). ``SessionCookies`` picks between the suffixed and the un-suffixed pair with Clerk's own rules
(``AuthenticateContext.usesSuffixedCookies``), reading the candidate tokens' ``iss``, ``iat`` and ``exp``
*unverified*: the choice only decides which token is then verified, never whether it is trusted.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard

import jwt

from clerk_sync.errors import TokenInvalidError
from clerk_sync.settings import frontend_api_from_publishable_key

__all__ = [
    "CLIENT_UAT_COOKIE",
    "MAX_TOKEN_BYTES",
    "SESSION_COOKIE",
    "SessionCookies",
    "TokenCarrier",
    "TokenLocation",
    "cookie_suffix",
    "find_token",
    "parse_client_uat",
    "suffixed_cookie_name",
]

#: Clerk's cookie caps custom claims near 1.2 KB; 16 KiB leaves room for any real token and none for abuse.
MAX_TOKEN_BYTES = 16 * 1024
SESSION_COOKIE = "__session"
CLIENT_UAT_COOKIE = "__client_uat"

#: ``__client_uat`` is unix seconds; 15 digits is past the year 30 million, anything longer is not a timestamp.
_CLIENT_UAT = re.compile(r"[0-9]{1,15}")
_SCHEME = re.compile(r"https?://", re.IGNORECASE)


class TokenLocation(StrEnum):
    """Where the token was found; Clerk logs it as ``token-carrier``."""

    HEADER = "header"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class TokenCarrier:
    """A token and where it came from. ``client_uat`` is the ``__client_uat`` read with a cookie token (0 when
    absent, ``0`` or unreadable); it means nothing for a header token."""

    token: str
    location: TokenLocation
    client_uat: int = 0


def cookie_suffix(publishable_key: str) -> str:
    """Clerk's ``getCookieSuffix``: SHA-1 of the publishable key, base64url (padding kept), first 8 characters."""
    digest = hashlib.sha1(publishable_key.encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).decode()[:8]


def suffixed_cookie_name(name: str, suffix: str) -> str:
    """Clerk's ``getSuffixedCookieName``: ``__session`` -> ``__session_<suffix>``."""
    return f"{name}_{suffix}"


def parse_client_uat(value: str | None) -> int:
    """``__client_uat`` as unix seconds; 0 (Clerk's "signed out") when absent or not a plain decimal number.

    Clerk reads it with ``Number.parseInt(value) || 0``, which also accepts ``"12abc"`` (12), ``"0x10"`` (16) and
    negative numbers; clerk-js only ever writes decimal seconds, so anything else is treated as absent, which
    refuses the cookie token (fail closed) where Clerk might have accepted it.
    """
    if value is None:
        return 0
    value = value.strip()
    return int(value) if _CLIENT_UAT.fullmatch(value) else 0


class SessionCookies:
    """Reads a request's session cookie and ``__client_uat`` the way Clerk's ``AuthenticateContext`` does.

    Without a publishable key there is no suffix and only ``__session`` / ``__client_uat`` are read (Clerk's
    cookie flow always has the key). ``now`` is the clock for "is the suffixed token expired" (development only).
    """

    def __init__(self, publishable_key: str | None = None, *, now: Callable[[], float] = time.time) -> None:
        self.suffix = cookie_suffix(publishable_key) if publishable_key else None
        self._frontend_api = frontend_api_from_publishable_key(publishable_key) if publishable_key else None
        self._production = bool(publishable_key and publishable_key.startswith("pk_live_"))
        self._now = now

    def read(self, cookies: Mapping[str, str]) -> tuple[str | None, int]:
        """The session token (None when absent) and the ``__client_uat`` that goes with it."""
        if self.suffix is not None and self.uses_suffixed(cookies):
            names = (
                suffixed_cookie_name(SESSION_COOKIE, self.suffix),
                suffixed_cookie_name(CLIENT_UAT_COOKIE, self.suffix),
            )
        else:
            names = (SESSION_COOKIE, CLIENT_UAT_COOKIE)
        return _cookie(cookies, names[0]), parse_client_uat(_cookie(cookies, names[1]))

    def uses_suffixed(self, cookies: Mapping[str, str]) -> bool:
        """Clerk's ``usesSuffixedCookies``, rule for rule (its comments explain the ClerkJS-downgrade cases)."""
        if self.suffix is None:
            return False
        suffixed_uat = _cookie(cookies, suffixed_cookie_name(CLIENT_UAT_COOKIE, self.suffix))
        uat = _cookie(cookies, CLIENT_UAT_COOKIE)
        suffixed_session = _cookie(cookies, suffixed_cookie_name(SESSION_COOKIE, self.suffix))
        session = _cookie(cookies, SESSION_COOKIE)
        session_payload = _unverified_payload(session)
        # A malformed un-suffixed token (no iss) is judged as it is, to answer signed out.
        if session and not _truthy(session_payload.get("iss") if session_payload else None):
            return False
        # An un-suffixed token of another instance on the same domain: this instance's is the suffixed one.
        if session and not self._belongs_to_instance(session_payload):
            return True
        if not suffixed_uat and not suffixed_session:
            return False
        suffixed_payload = _unverified_payload(suffixed_session)
        # Both signed in, the un-suffixed token is newer: trust it.
        if suffixed_uat != "0" and uat != "0" and _number(session_payload, "iat") > _number(suffixed_payload, "iat"):
            return False
        # Suffixed signed out, un-suffixed signed in: the un-suffixed pair is written by every clerk-js, so newer.
        if suffixed_uat == "0" and uat != "0":
            return False
        # Development instances: clerk-js (not FAPI) writes the suffixed uat, so a pinned old clerk-js leaves it
        # stale; an expired suffixed token then means the un-suffixed pair is the live one.
        if not self._production and suffixed_uat != "0" and uat == "0" and self._expired(suffixed_payload):
            return False
        return not (not suffixed_uat and suffixed_session)

    def _belongs_to_instance(self, payload: Mapping[str, Any] | None) -> bool:
        issuer = payload.get("iss") if payload else None
        return isinstance(issuer, str) and _SCHEME.sub("", issuer) == self._frontend_api

    def _expired(self, payload: Mapping[str, Any] | None) -> bool:
        exp = payload.get("exp") if payload else None
        return _is_number(exp) and exp <= int(self._now())


def find_token(
    authorization: str | None, cookies: Mapping[str, str], session_cookies: SessionCookies | None = None
) -> TokenCarrier | None:
    """Return the request's session token, or None when it carries none.

    ``session_cookies`` chooses between suffixed and un-suffixed cookies; without it only ``__session`` and
    ``__client_uat`` are read.
    """
    if authorization is not None and (token := _from_header(authorization)):
        return _checked(token, TokenLocation.HEADER)
    token, client_uat = (session_cookies or _UNSUFFIXED).read(cookies)
    if token:
        return _checked(token, TokenLocation.COOKIE, client_uat)
    return None


_UNSUFFIXED = SessionCookies()


def _from_header(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    scheme, sep, rest = value.partition(" ")
    if not sep:
        return value
    if scheme == "Bearer" and rest.strip():
        return rest.strip()
    return None


def _checked(token: str, location: TokenLocation, client_uat: int = 0) -> TokenCarrier:
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalidError("The session token is larger than any Clerk session token can be.")
    return TokenCarrier(token, location, client_uat)


def _cookie(cookies: Mapping[str, str], name: str) -> str | None:
    """A cookie's value; an empty one counts as absent, as Clerk's ``getCookie(name) || undefined`` does."""
    value = cookies.get(name)
    if value is None:
        return None
    return value.strip() or None


def _unverified_payload(token: str | None) -> dict[str, Any] | None:
    """Clerk's ``decodeJwt``: the payload without any check, or None when it cannot be read."""
    if not token or len(token) > MAX_TOKEN_BYTES:
        return None
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return payload if isinstance(payload, dict) else None


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number(payload: Mapping[str, Any] | None, claim: str) -> float:
    """``payload?.[claim] || 0`` for the numbers Clerk compares; anything that is not a number counts as 0."""
    value = payload.get(claim) if payload else None
    return float(value) if _is_number(value) else 0.0


def _truthy(value: object) -> bool:
    """JavaScript truthiness, for Clerk's ``!!payload.iss``: empty lists and objects are true there."""
    if isinstance(value, list | dict):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)
