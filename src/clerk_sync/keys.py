"""Signing keys: a PEM key (networkless) or a cached JWKS of one Clerk instance.

The JWKS cache follows Clerk's SDK and panva/jose rather than PyJWKClient: keys live for ``max_age`` (5 min);
an unknown ``kid`` triggers at most one refetch per ``cooldown`` (30 s), and concurrent misses share that fetch;
a failed refetch keeps the last good keys instead of clearing them. The cache is an attribute of one ``JwksKeySet``
bound to one URL and credential, never a process-wide dict keyed by ``kid``: that is the cross-instance flaw
Clerk fixed in its SDKs (clerk/javascript PR #9394).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from clerk_sync.errors import ConfigurationError, KeySetUnavailableError, SigningKeyNotFoundError

__all__ = ["ALLOWED_ALGORITHMS", "JwksKeySet", "KeySet", "PemKeySet", "SigningKey", "load_pem_key"]

logger = logging.getLogger("clerk_sync.keys")

#: Clerk signs with RSA only (``@clerk/backend`` ``jwt/algorithms.ts``); nothing else is ever accepted.
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})

_PEM_BODY = re.compile(r"-----BEGIN [A-Z ]+-----|-----END [A-Z ]+-----|\s+")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A public key and the algorithm its JWK pins (None when the source does not say)."""

    kid: str | None
    key: RSAPublicKey
    algorithm: str | None = None


class KeySet(Protocol):
    """Where the verifier gets the key for a token's ``kid``."""

    async def get_key(self, kid: str | None) -> SigningKey:
        """Return the key, or raise ``SigningKeyNotFoundError`` / ``KeySetUnavailableError``."""
        ...

    @property
    def ready(self) -> bool:
        """True when a key is at hand without a network call that could fail (for ``/readyz``)."""
        ...


def load_pem_key(text: str, *, variable: str = "CLERK_JWT_KEY") -> RSAPublicKey:
    """Accept the Dashboard's PEM with or without BEGIN/END lines, or with ``\\n`` escapes from an env file."""
    body = _PEM_BODY.sub("", text.replace("\\n", "\n"))
    if not body:
        raise ConfigurationError(f"{variable} is empty")
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = f"-----BEGIN PUBLIC KEY-----\n{lines}\n-----END PUBLIC KEY-----\n"
    try:
        key = load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{variable} is not a PEM public key") from exc
    if not isinstance(key, RSAPublicKey):
        raise ConfigurationError(f"{variable} must be an RSA public key (Clerk signs with RS256)")
    return key


class PemKeySet:
    """Networkless verification: one configured key, used whatever the token's ``kid`` says (as Clerk does)."""

    def __init__(self, key: RSAPublicKey | str) -> None:
        self._key = SigningKey(None, load_pem_key(key) if isinstance(key, str) else key)

    async def get_key(self, kid: str | None) -> SigningKey:
        """Return the configured key."""
        return self._key

    @property
    def ready(self) -> bool:
        """Always: the key is in memory."""
        return True


class JwksKeySet:
    """A JWKS endpoint's keys, cached with TTL, kid-miss cooldown, single-flight fetches and stale fallback."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        headers: Mapping[str, str] | None = None,
        max_age: float = 300.0,
        cooldown: float = 30.0,
        failure_backoff: float = 1.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._http = http
        self._headers = dict(headers or {})
        self._max_age = max_age
        self._cooldown = cooldown
        self._failure_backoff = failure_backoff
        self._timeout = timeout
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    @property
    def url(self) -> str:
        """The endpoint this cache is bound to."""
        return self._url

    @property
    def ready(self) -> bool:
        """True when at least one key is cached (possibly stale but still served)."""
        return bool(self._keys)

    async def get_key(self, kid: str | None) -> SigningKey:
        """Fast path without the lock while fresh; otherwise at most one fetch for all concurrent callers."""
        key = self._keys.get(kid) if kid is not None else None
        if key is not None and self._is_fresh(self._clock()):
            return key
        generation = self._generation
        async with self._lock:
            # Callers that queued behind a fetch use its outcome instead of fetching again.
            if self._generation == generation and self._should_fetch(kid, self._clock()):
                await self._refresh()
            key = self._keys.get(kid) if kid is not None else None
        if key is not None:
            return key
        if not self._keys:
            raise KeySetUnavailableError("No signing keys could be loaded from the JWKS endpoint.")
        raise SigningKeyNotFoundError(
            "Unable to find a signing key in JWKS that matches the kid of the provided session token."
        )

    async def warm(self) -> bool:
        """Fetch once at start-up so the first request does not pay for it; failure is not fatal."""
        async with self._lock:
            if not self._keys:
                await self._refresh()
        return bool(self._keys)

    def _is_fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self._max_age

    def _should_fetch(self, kid: str | None, now: float) -> bool:
        since_attempt = None if self._attempted_at is None else now - self._attempted_at
        if not self._is_fresh(now):
            return since_attempt is None or since_attempt >= self._failure_backoff
        # Fresh set without this kid: maybe the keys rotated; refetch, but not more than once per cooldown.
        return kid is not None and kid not in self._keys and (since_attempt is None or since_attempt >= self._cooldown)

    async def _refresh(self) -> None:
        self._generation += 1
        self._attempted_at = self._clock()
        self.fetch_count += 1
        try:
            keys = await self._fetch()
        except KeySetUnavailableError as exc:
            if self._keys:
                logger.warning("JWKS refresh failed; serving the last good keys: %s", exc.message)
            else:
                logger.error("JWKS fetch failed and no keys are cached: %s", exc.message)
            return
        self._keys = keys
        self._fetched_at = self._clock()

    async def _fetch(self) -> dict[str, SigningKey]:
        try:
            response = await self._http.get(self._url, headers=self._headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise KeySetUnavailableError(f"Error loading JWKS from {self._url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise KeySetUnavailableError(f"Error loading JWKS from {self._url} with code={response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise KeySetUnavailableError(f"JWKS from {self._url} is not JSON") from exc
        keys = _parse_jwks(document)
        if not keys:
            raise KeySetUnavailableError("The JWKS endpoint did not contain any signing keys.")
        return keys


def _parse_jwks(document: Any) -> dict[str, SigningKey]:
    """Keep RSA signing keys with a kid; skip (never fail on) keys of other types or uses."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return {}
    keys: dict[str, SigningKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        kid, alg = entry.get("kid"), entry.get("alg")
        if not isinstance(kid, str) or (alg is not None and alg not in ALLOWED_ALGORITHMS):
            continue
        try:
            public = jwt.PyJWK(entry).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
        if isinstance(public, RSAPublicKey):
            keys[kid] = SigningKey(kid, public, alg)
    return keys
