"""Finding the session token in a request, framework-free.

Clerk's rule (``@clerk/backend`` ``tokens/request.ts``): the ``Authorization`` header wins; ``Bearer <t>`` or a bare
value without a space is a token, any other scheme (``Basic ...``) is not. Without a header token, the
``__session`` cookie. Anything larger than ``MAX_TOKEN_BYTES`` is refused before it reaches a parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from clerk_sync.errors import TokenInvalidError

__all__ = ["MAX_TOKEN_BYTES", "SESSION_COOKIE", "TokenCarrier", "TokenLocation", "find_token"]

#: Clerk's cookie caps custom claims near 1.2 KB; 16 KiB leaves room for any real token and none for abuse.
MAX_TOKEN_BYTES = 16 * 1024
SESSION_COOKIE = "__session"


class TokenLocation(StrEnum):
    """Where the token was found; Clerk logs it as ``token-carrier``."""

    HEADER = "header"
    COOKIE = "cookie"


@dataclass(frozen=True, slots=True)
class TokenCarrier:
    """A token and where it came from."""

    token: str
    location: TokenLocation


def find_token(authorization: str | None, cookies: Mapping[str, str]) -> TokenCarrier | None:
    """Return the request's session token, or None when it carries none."""
    if authorization is not None and (token := _from_header(authorization)):
        return _checked(token, TokenLocation.HEADER)
    cookie = cookies.get(SESSION_COOKIE)
    if cookie and cookie.strip():
        return _checked(cookie.strip(), TokenLocation.COOKIE)
    return None


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


def _checked(token: str, location: TokenLocation) -> TokenCarrier:
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalidError("The session token is larger than any Clerk session token can be.")
    return TokenCarrier(token, location)
