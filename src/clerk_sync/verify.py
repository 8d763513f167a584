"""Token verification: a raw session token in, ``SessionClaims`` or a precise refusal out.

The order is Clerk's (``@clerk/backend`` ``jwt/verifyJwt.ts``): structure and header, key, signature, then
claims. The signature is checked before any claim so a forged token learns nothing about our clock or our
allow-lists (Clerk PR #8332). Time claims are checked here, with Clerk's boundaries and skew, rather than by
PyJWT, whose ``iat`` error would report ``token-not-active-yet`` where Clerk says ``token-iat-in-the-future``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import (
    SessionPendingError,
    TokenExpiredError,
    TokenIatInTheFutureError,
    TokenInvalidAlgorithmError,
    TokenInvalidAuthorizedPartiesError,
    TokenInvalidError,
    TokenInvalidIssuerError,
    TokenInvalidSignatureError,
    TokenNotActiveYetError,
    TokenTypeMismatchError,
    TokenVerificationFailedError,
)
from clerk_sync.keys import ALLOWED_ALGORITHMS, KeySet
from clerk_sync.tokens import MAX_TOKEN_BYTES

__all__ = [
    "DEFAULT_CLOCK_SKEW_MS",
    "DEFAULT_TOKEN_CACHE_SIZE",
    "SESSION_CATEGORIES",
    "TokenCategory",
    "TokenVerifier",
    "VerifiedTokenCache",
]

DEFAULT_CLOCK_SKEW_MS = 5000
DEFAULT_TOKEN_CACHE_SIZE = 4096


class TokenCategory:
    """Values of Clerk's ``cat`` header (``@clerk/backend`` ``tokens/jwtCategories.ts``)."""

    SESSION = "cl_B7d4PD111AAA"
    TEMPLATE = "cl_B7d4PD222AAA"
    MACHINE = "cl_B7d4PD333AAA"
    IGNORE = "cl_I7d4PD111III"


#: Categories a session-token endpoint accepts; an absent ``cat`` predates the header and is accepted too.
SESSION_CATEGORIES = frozenset({TokenCategory.SESSION, TokenCategory.IGNORE})


class VerifiedTokenCache:
    """A bounded LRU of tokens that already verified, keyed by their SHA-256 digest.

    A browser sends the same session token for up to 60 s; re-checking its RSA signature on every request is
    most of the verification cost. Only successes are stored (caching refusals would let junk fill the cache),
    the token itself is never kept, and an entry is never served once its ``exp`` (plus skew) has passed.
    """

    def __init__(self, maxsize: int = DEFAULT_TOKEN_CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[bytes, SessionClaims] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(token: str) -> bytes:
        """The digest a token is stored under."""
        return hashlib.sha256(token.encode()).digest()

    def get(self, key: bytes, now_ms: float, skew_ms: float) -> SessionClaims | None:
        """The claims if the token verified before and is not expired by now."""
        claims = self._entries.get(key)
        if claims is None:
            return None
        if claims.exp * 1000 <= now_ms - skew_ms:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return claims

    def put(self, key: bytes, claims: SessionClaims) -> None:
        """Remember a verified token, evicting the least recently used beyond ``maxsize``."""
        self._entries[key] = claims
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)


class TokenVerifier:
    """Verifies Clerk session tokens against one instance's keys and the app's expectations."""

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str | None = None,
        authorized_parties: Iterable[str] = (),
        clock_skew_ms: float = DEFAULT_CLOCK_SKEW_MS,
        allow_pending_sessions: bool = False,
        cache_size: int = DEFAULT_TOKEN_CACHE_SIZE,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._parties = frozenset(authorized_parties)
        # Clerk: any non-finite or non-numeric skew falls back to the default; an explicit 0 is honoured.
        valid = isinstance(clock_skew_ms, int | float) and math.isfinite(clock_skew_ms) and clock_skew_ms >= 0
        self._skew_ms = float(clock_skew_ms) if valid else float(DEFAULT_CLOCK_SKEW_MS)
        self._allow_pending = allow_pending_sessions
        self._now = now
        self._jws = jwt.PyJWS()
        self.cache = VerifiedTokenCache(cache_size) if cache_size > 0 else None

    async def verify(self, token: str) -> SessionClaims:
        """Return the verified claims or raise a ``TokenError`` subclass (or ``KeySetUnavailableError``)."""
        if self.cache is None or not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
            return await self._verify(token)
        key = self.cache.key(token)
        claims = self.cache.get(key, self._now() * 1000, self._skew_ms)
        if claims is None:
            claims = await self._verify(token)
            self.cache.put(key, claims)
        return claims

    async def _verify(self, token: str) -> SessionClaims:
        header = _read_header(token)
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise TokenInvalidAlgorithmError(f"Invalid JWT algorithm {str(algorithm)[:20]!r}; expected RS256/384/512.")
        _check_category(header)
        kid = header.get("kid")
        key = await self.keys.get_key(kid if isinstance(kid, str) else None)
        if key.algorithm is not None and key.algorithm != algorithm:
            raise TokenInvalidAlgorithmError("The token's algorithm differs from the one its signing key pins.")
        payload = self._verified_payload(token, key.key, algorithm)
        self._check_claims(payload)
        return SessionClaims.from_payload(payload)

    def _verified_payload(self, token: str, key: Any, algorithm: str) -> dict[str, Any]:
        try:
            decoded = self._jws.decode_complete(token, key, algorithms=[algorithm])
        except jwt.InvalidSignatureError as exc:
            raise TokenInvalidSignatureError("JWT signature is invalid.") from exc
        except jwt.DecodeError as exc:
            raise TokenInvalidError("The session token could not be decoded.") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenVerificationFailedError("Error verifying JWT signature.") from exc
        try:
            payload = json.loads(decoded["payload"])
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenInvalidError("The session token's payload is not JSON.") from exc
        if not isinstance(payload, dict):
            raise TokenInvalidError("The session token's payload is not a JSON object.")
        return payload

    def _check_claims(self, payload: Mapping[str, Any]) -> None:
        """Clerk's order: sub, (iss), azp, exp, nbf, iat; then our session-status policy."""
        sub = payload.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenVerificationFailedError("Subject claim (sub) is required and must be a string.")
        if sub.startswith("mch_"):
            raise TokenTypeMismatchError("Machine tokens are not session tokens.")
        if self._issuer is not None and payload.get("iss") != self._issuer:
            raise TokenInvalidIssuerError("Invalid JWT issuer claim (iss).")
        if self._parties:
            azp = payload.get("azp")
            if not isinstance(azp, str) or azp not in self._parties:
                raise TokenInvalidAuthorizedPartiesError("Invalid JWT Authorized party claim (azp).")
        now_ms = self._now() * 1000
        exp = _number(payload, "exp", required=True)
        if exp is not None and exp * 1000 <= now_ms - self._skew_ms:
            raise TokenExpiredError("JWT is expired.")
        nbf = _number(payload, "nbf", required=False)
        if nbf is not None and nbf * 1000 > now_ms + self._skew_ms:
            raise TokenNotActiveYetError("JWT cannot be used prior to not before date claim (nbf).")
        iat = _number(payload, "iat", required=True)
        if iat is not None and iat * 1000 > now_ms + self._skew_ms:
            raise TokenIatInTheFutureError("JWT issued at date claim (iat) is in the future.")
        if payload.get("sts") == "pending" and not self._allow_pending:
            raise SessionPendingError("The session is pending; it is treated as signed out.")


def _read_header(token: object) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise TokenInvalidError("The session token is empty.")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalidError("The session token is larger than any Clerk session token can be.")
    if token.count(".") != 2:
        raise TokenInvalidError("Invalid JWT form. A JWT consists of three parts separated by dots.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalidError("The session token's header could not be decoded.") from exc
    typ = header.get("typ")
    if typ is not None:
        if isinstance(typ, str) and typ.lower() in ("at+jwt", "application/at+jwt"):
            raise TokenTypeMismatchError("OAuth access tokens are not session tokens.")
        if typ != "JWT":
            raise TokenInvalidError(f"Invalid JWT type {str(typ)[:20]!r}. Expected JWT.")
    return header


def _check_category(header: Mapping[str, Any]) -> None:
    category = header.get("cat")
    if category is None or category in SESSION_CATEGORIES:
        return
    if category == TokenCategory.MACHINE:
        raise TokenInvalidError("Invalid session token category.")
    raise TokenTypeMismatchError("The token is not a session token (cat header).")


def _number(payload: Mapping[str, Any], claim: str, *, required: bool) -> float | None:
    value = payload.get(claim)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenVerificationFailedError(f"Invalid JWT claim ({claim}): expected a number.")
    return float(value)
