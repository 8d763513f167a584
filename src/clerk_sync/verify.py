"""Token verification: a raw session token in, ``SessionClaims`` or a precise refusal out.

The checks and their order are Clerk's: ``authenticateRequest``'s request-level checks for a header token
(``@clerk/backend`` ``tokens/request.ts``), then ``verifyToken`` / ``verifyJwt`` (``jwt/verifyJwt.ts``,
``jwt/assertions.ts``). A token that is wrong in several ways gets the code of the first check Clerk runs.
``docs/verification.md`` lists the order, the codes, and the few places where we are deliberately stricter;
``tests/test_differential.py`` runs a corpus of tokens through Clerk's own verifier and through this one.

Verification has three stages, so the checks stay free of I/O and are written once for both verifiers
(the sans-I/O shape of httpx's ``Auth`` flows):

1. ``inspect_token`` (pure): structure, canonical base64url, strict JSON, request-level type checks, header.
2. the key lookup, the only I/O: ``KeySet.get_key(kid)`` awaited by ``TokenVerifier``, or
   ``SyncKeySet.get_key(kid)`` called by ``SyncTokenVerifier``.
3. ``check`` (pure, shared): the key's algorithm, the signature, then the claims.

The signature is checked before any claim so a forged token learns nothing about our clock or our allow-lists
(Clerk PR #8332). Time claims are checked here with Clerk's arithmetic (whole seconds, milliseconds, skew),
not by PyJWT, whose ``iat`` error would say ``token-not-active-yet`` where Clerk says ``token-iat-in-the-future``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import jwt

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import (
    ConfigurationError,
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
from clerk_sync.keys import ALLOWED_ALGORITHMS, KeySet, SigningKey, SyncKeySet
from clerk_sync.tokens import MAX_TOKEN_BYTES

__all__ = [
    "DEFAULT_CLOCK_SKEW_MS",
    "DEFAULT_TOKEN_CACHE_SIZE",
    "SESSION_CATEGORIES",
    "InspectedToken",
    "SyncTokenVerifier",
    "TokenCategory",
    "TokenVerifier",
    "VerifiedTokenCache",
    "inspect_token",
]

DEFAULT_CLOCK_SKEW_MS = 5000
DEFAULT_TOKEN_CACHE_SIZE = 4096

#: RFC 9068 access-token types; Clerk's ``isOAuthJwt`` compares them exactly (case-sensitive).
_OAUTH_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
#: Clerk's machine (M2M) subjects; such a token is never a user's session.
_MACHINE_SUBJECT_PREFIX = "mch_"

#: A canonical base64url segment: the URL-safe alphabet, no padding (RFC 7515 §2), no impossible length.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")

_Keys = TypeVar("_Keys", KeySet, SyncKeySet)


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

    A lock guards each operation: a ``SyncTokenVerifier`` serves many threads, and an LRU's read is a write
    (one thread's eviction between another's lookup and ``move_to_end`` would raise). Uncontended under
    asyncio, it costs well under a microsecond.
    """

    def __init__(self, maxsize: int = DEFAULT_TOKEN_CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[bytes, SessionClaims] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(token: str) -> bytes:
        """The digest a token is stored under."""
        return hashlib.sha256(token.encode()).digest()

    def get(self, key: bytes, now_ms: float, skew_ms: float) -> SessionClaims | None:
        """The claims if the token verified before and is not expired by now."""
        with self._lock:
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
        with self._lock:
            self._entries[key] = claims
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)


@dataclass(frozen=True, slots=True)
class InspectedToken:
    """A token that passed every check possible without its key: what the key lookup and ``check`` need.

    The token and its claims stay out of ``repr`` so a log line can never carry a credential or personal data.
    """

    token: str = field(repr=False)
    header: Mapping[str, Any] = field(repr=False)
    payload: Mapping[str, Any] = field(repr=False)
    algorithm: str
    kid: str | None


def inspect_token(token: object) -> InspectedToken:
    """Every check that needs no key, in Clerk's order; pure (no I/O, no clock).

    Clerk decodes all three segments before any other check (``decodeJwt``), then ``authenticateRequest``
    refuses machine tokens and non-session categories before ``verifyToken`` looks at ``typ`` and ``alg``.
    A header or payload that is JSON but not an object has no parameters or claims, as in Clerk, so it fails
    the first check that needs one (``alg`` or ``sub``).
    """
    if not isinstance(token, str) or not token:
        raise TokenInvalidError("The session token is empty.")
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenInvalidError("The session token is larger than any Clerk session token can be.")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalidError("Invalid JWT form. A JWT consists of three parts separated by dots.")
    header_value = _json_segment(parts[0])
    payload_value = _json_segment(parts[1])
    _base64url(parts[2])
    header: Mapping[str, Any] = header_value if isinstance(header_value, dict) else {}
    payload: Mapping[str, Any] = payload_value if isinstance(payload_value, dict) else {}

    # authenticateRequest (header token): machine JWTs and other token classes, before verifyToken runs.
    # Clerk's isMachineJwt only recognises a token whose three segments are non-empty.
    if all(parts):
        typ = header.get("typ")
        if isinstance(typ, str) and typ in _OAUTH_ACCESS_TOKEN_TYPES:
            raise TokenTypeMismatchError("OAuth access tokens are not session tokens.")
        sub = payload.get("sub")
        if isinstance(sub, str) and sub.startswith(_MACHINE_SUBJECT_PREFIX):
            raise TokenTypeMismatchError("Machine tokens are not session tokens.")
    category = header.get("cat", TokenCategory.SESSION)
    if not isinstance(category, str) or category not in SESSION_CATEGORIES:
        raise TokenTypeMismatchError("The token is not a session token (cat header).")

    # verifyJwt's header checks: typ (when present, even as null) must be exactly "JWT"; alg one of Clerk's.
    if "typ" in header and header["typ"] != "JWT":
        raise TokenInvalidError(f'Invalid JWT type {_show(header["typ"])}. Expected "JWT".')
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
        raise TokenInvalidAlgorithmError(f"Invalid JWT algorithm {_show(algorithm)}. Supported: RS256,RS384,RS512.")
    kid = header.get("kid")
    if "kid" in header and not isinstance(kid, str):
        raise TokenInvalidError("Key ID header parameter (kid) must be a string.")
    return InspectedToken(token, header, payload, algorithm, kid)


class _BaseVerifier(Generic[_Keys]):
    """Everything both verifiers share: the configuration, the token cache, and the pure checks around the key
    lookup. ``TokenVerifier`` and ``SyncTokenVerifier`` add only ``verify``, which awaits or calls ``get_key``."""

    def __init__(
        self,
        keys: _Keys,
        *,
        issuer: str | None = None,
        authorized_parties: Iterable[str] = (),
        clock_skew_ms: float = DEFAULT_CLOCK_SKEW_MS,
        allow_pending_sessions: bool = False,
        cache_size: int = DEFAULT_TOKEN_CACHE_SIZE,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.keys: _Keys = keys
        self._issuer = _checked_issuer(issuer)
        self._parties = _checked_parties(authorized_parties)
        self._skew_ms = _checked_skew(clock_skew_ms)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigurationError("CLERK_TOKEN_CACHE_SIZE (cache_size) must be a whole number >= 0")
        self._allow_pending = allow_pending_sessions
        self._now = now
        self._jws = jwt.PyJWS()
        self.cache = VerifiedTokenCache(cache_size) if cache_size > 0 else None

    def _cached(self, token: object) -> tuple[bytes | None, SessionClaims | None]:
        """The token's cache digest (None when it is not cacheable) and its claims if it verified before."""
        if self.cache is None or not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
            return None, None
        digest = self.cache.key(token)
        return digest, self.cache.get(digest, self._now() * 1000, self._skew_ms)

    def _remember(self, digest: bytes | None, claims: SessionClaims) -> None:
        if digest is not None and self.cache is not None:
            self.cache.put(digest, claims)

    def check(self, inspected: InspectedToken, key: SigningKey) -> SessionClaims:
        """The checks after the key lookup, in Clerk's order: the key's algorithm, the signature, the claims."""
        self._check_signature(inspected, key)
        self._check_claims(inspected.payload)
        return SessionClaims.from_payload(inspected.payload)

    def _check_signature(self, inspected: InspectedToken, key: SigningKey) -> None:
        # Clerk imports the key for the token's alg; WebCrypto refuses a JWK whose "alg" names another hash
        # (a PEM key becomes an RS256 JWK), which verifyJwt reports as token-verification-failed.
        if key.algorithm is not None and key.algorithm != inspected.algorithm:
            raise TokenVerificationFailedError(
                f"Error verifying JWT signature: the signing key is for {key.algorithm}, "
                f"the token says {inspected.algorithm}."
            )
        try:
            self._jws.decode_complete(inspected.token, key.key, algorithms=[inspected.algorithm])
        except jwt.InvalidSignatureError as exc:
            raise TokenInvalidSignatureError("JWT signature is invalid.") from exc
        except jwt.DecodeError as exc:
            raise TokenInvalidError("The session token could not be decoded.") from exc
        except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError) as exc:
            raise TokenVerificationFailedError("Error verifying JWT signature.") from exc
        except jwt.InvalidTokenError as exc:
            # PyJWT refuses critical extensions it does not implement (crit, b64) rather than ignore them.
            raise TokenInvalidError(f"Unsupported JWS header: {exc}") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenVerificationFailedError("Error verifying JWT signature.") from exc

    def _check_claims(self, payload: Mapping[str, Any]) -> None:
        """Clerk's order: sub, azp, iss, exp, nbf, iat; then our session-status policy."""
        sub = payload.get("sub")
        if not isinstance(sub, str) or not sub:
            raise TokenVerificationFailedError("Subject claim (sub) is required and must be a non-empty string.")
        if self._parties:
            azp = payload.get("azp")
            if not isinstance(azp, str) or azp not in self._parties:
                raise TokenInvalidAuthorizedPartiesError("Invalid JWT Authorized party claim (azp).")
        if self._issuer is not None and payload.get("iss") != self._issuer:
            raise TokenInvalidIssuerError("Invalid JWT issuer claim (iss).")
        # Date.now() is a whole number of milliseconds; Clerk compares whole seconds of each claim against it.
        now_ms = math.floor(self._now() * 1000)
        exp = _time_claim(payload, "exp", required=True)
        if exp is not None and exp <= now_ms - self._skew_ms:
            raise TokenExpiredError("JWT is expired.")
        nbf = _time_claim(payload, "nbf", required=False)
        if nbf is not None and nbf > now_ms + self._skew_ms:
            raise TokenNotActiveYetError("JWT cannot be used prior to not before date claim (nbf).")
        # Clerk treats an absent iat as fine; we require it because user writes are ordered by it.
        iat = _time_claim(payload, "iat", required=True)
        if iat is not None and iat > now_ms + self._skew_ms:
            raise TokenIatInTheFutureError("JWT issued at date claim (iat) is in the future.")
        if payload.get("sts") == "pending" and not self._allow_pending:
            raise SessionPendingError("The session is pending; it is treated as signed out.")


class TokenVerifier(_BaseVerifier[KeySet]):
    """Verifies Clerk session tokens against one instance's keys and the app's expectations."""

    async def verify(self, token: str) -> SessionClaims:
        """Return the verified claims or raise a ``TokenError`` subclass (or ``KeySetUnavailableError``)."""
        digest, claims = self._cached(token)
        if claims is None:
            inspected = inspect_token(token)
            claims = self.check(inspected, await self.keys.get_key(inspected.kid))
            self._remember(digest, claims)
        return claims


class SyncTokenVerifier(_BaseVerifier[SyncKeySet]):
    """``TokenVerifier`` for synchronous apps (WSGI, threads): the same checks, codes and cache; a blocking
    key lookup (``SyncPemKeySet`` or ``SyncJwksKeySet``). One instance may serve many threads."""

    def verify(self, token: str) -> SessionClaims:
        """Return the verified claims or raise a ``TokenError`` subclass (or ``KeySetUnavailableError``)."""
        digest, claims = self._cached(token)
        if claims is None:
            inspected = inspect_token(token)
            claims = self.check(inspected, self.keys.get_key(inspected.kid))
            self._remember(digest, claims)
        return claims


def _json_segment(segment: str) -> Any:
    """Strict JSON in strict UTF-8: ``NaN``/``Infinity`` and a byte-order mark are refused, as RFC 8259 does."""
    data = _base64url(segment)
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise TokenInvalidError("Invalid JWT form. The header, payload, or signature could not be decoded.") from exc


def _base64url(segment: str) -> bytes:
    """Decode a canonical base64url segment; anything else would let one token take many spellings.

    Refused: characters outside the URL-safe alphabet (``+``, ``/``, ``=``, whitespace), a length that
    encodes no whole byte, and non-zero padding bits (each would be one more valid string for the same token).
    """
    if not _SEGMENT.fullmatch(segment) or len(segment) % 4 == 1:
        raise TokenInvalidError("Invalid JWT form. The header, payload, or signature could not be decoded.")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalidError("Invalid JWT form. The header, payload, or signature could not be decoded.") from exc
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode() != segment:
        raise TokenInvalidError("Invalid JWT form. The header, payload, or signature could not be decoded.")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _time_claim(payload: Mapping[str, Any], claim: str, *, required: bool) -> int | None:
    """The claim as Clerk's ``new Date(0).setUTCSeconds(value)`` sees it: whole seconds, in milliseconds.

    Present means present: an explicit ``null`` is a wrong type, never "absent". Values JavaScript's ``Date``
    cannot hold make Clerk's comparisons false (so its checks pass); we refuse the non-finite ones and compare
    the rest exactly, which can only refuse more.
    """
    if claim not in payload:
        if required:
            raise TokenVerificationFailedError(f"Invalid JWT claim ({claim}): it is required.")
        return None
    value = payload[claim]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenVerificationFailedError(f"Invalid JWT claim ({claim}) {_show(value)}. Expected number.")
    if isinstance(value, float) and not math.isfinite(value):
        raise TokenVerificationFailedError(f"Invalid JWT claim ({claim}): expected a finite number.")
    return math.trunc(value) * 1000


def _show(value: object) -> str:
    """A short, log-safe rendering of a header or claim value."""
    return repr(value)[:24]


def _checked_skew(value: object) -> float:
    # Clerk silently falls back to 5 s for a non-finite skew and honours a negative one; a Python caller who
    # passes either has made a mistake that would shift every time check, so it stops the app at start.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"CLERK_CLOCK_SKEW_MS (clock_skew_ms) must be a finite number >= 0, not {value!r}")
    return float(value)


def _checked_parties(parties: Iterable[str]) -> frozenset[str]:
    if isinstance(parties, str | bytes):
        raise ConfigurationError(
            "CLERK_AUTHORIZED_PARTIES (authorized_parties) must be a list of origins, not one string"
        )
    checked = frozenset(parties)
    if any(not isinstance(party, str) or not party for party in checked):
        raise ConfigurationError("CLERK_AUTHORIZED_PARTIES (authorized_parties) must hold non-empty origins only")
    return checked


def _checked_issuer(issuer: str | None) -> str | None:
    if issuer is not None and (not isinstance(issuer, str) or not issuer):
        raise ConfigurationError("CLERK_ISSUER (issuer) must be a non-empty URL or unset")
    return issuer
