"""Signing keys: a PEM key (networkless) or a cached JWKS of one Clerk instance.

The JWKS cache follows Clerk's SDK and panva/jose rather than PyJWKClient: keys live for ``max_age`` (5 min);
an unknown ``kid`` triggers a refetch (single-flight, at most one per ``min_refetch_interval``, 1 s), so a key
rotation is picked up on the first request that carries the new ``kid``; a ``kid`` proven absent is refused
without refetching for ``cooldown`` (30 s); a failed refetch keeps the last good keys instead of clearing them.
The cache is an attribute of one ``JwksKeySet`` bound to one URL and credential, never a process-wide dict keyed
by ``kid``: that is the cross-instance flaw Clerk fixed in its SDKs (clerk/javascript PR #9394).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from clerk_sync.errors import ConfigurationError, KeySetUnavailableError, SigningKeyNotFoundError

__all__ = ["ALLOWED_ALGORITHMS", "PEM_ALGORITHM", "JwksKeySet", "KeySet", "PemKeySet", "SigningKey", "load_pem_key"]

logger = logging.getLogger("clerk_sync.keys")

#: Clerk signs with RSA only (``@clerk/backend`` ``jwt/algorithms.ts``); nothing else is ever accepted.
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
#: The one algorithm a PEM key verifies: Clerk's PEM loader builds an RS256 JWK (``tokens/keys.ts``).
PEM_ALGORITHM = "RS256"

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
    """Networkless verification: one configured key, used whatever the token's ``kid`` says (as Clerk does).

    The key verifies RS256 only. Clerk's ``loadClerkJwkFromPem`` turns ``CLERK_JWT_KEY`` into a JWK with
    ``alg: "RS256"``, so an RS384 or RS512 token, or one whose header names another algorithm than its
    signature used, is refused (``token-verification-failed``) rather than verified with another hash.
    """

    def __init__(self, key: RSAPublicKey | str) -> None:
        self._key = SigningKey(None, load_pem_key(key) if isinstance(key, str) else key, PEM_ALGORITHM)

    async def get_key(self, kid: str | None) -> SigningKey:
        """Return the configured key."""
        return self._key

    @property
    def ready(self) -> bool:
        """Always: the key is in memory."""
        return True


class JwksKeySet:
    """A JWKS endpoint's keys: cached with a TTL, refetched for a new ``kid`` within about a second.

    The refetch rule, chosen so a genuine rotation verifies on its first request while a flood of forged
    ``kid`` values costs at most one fetch per ``min_refetch_interval``:

    - A known ``kid`` in a fresh set (younger than ``max_age``) never waits and never fetches.
    - An unknown ``kid`` triggers a fetch. Fetches are single-flight: callers that arrive while one is under
      way, or queue behind it, use its result. Two fetch attempts are never closer than
      ``min_refetch_interval`` (1 s): a caller that needs a fetch sooner waits for that slot instead of being
      refused, so a ``kid`` that Clerk published a moment ago is found on the first request.
    - A ``kid`` that a completed fetch proved absent is refused without fetching for ``cooldown`` (30 s), in a
      bounded negative cache; any later fetch that lists it clears the entry. Repeated forged ``kid`` values
      therefore cost nothing, and new random ones cost at most one fetch per interval overall.
    - A stale set is refreshed on the next lookup; if the refresh fails, the last good keys keep serving
      (``jwk-remote-failed-to-load`` only when a ``kid`` is unknown and the fetch that should find it failed).
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        headers: Mapping[str, str] | None = None,
        max_age: float = 300.0,
        cooldown: float = 30.0,
        min_refetch_interval: float = 1.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        absent_kids_max: int = 4096,
    ) -> None:
        for name, value, minimum in (
            ("max_age", max_age, 0.0),
            ("cooldown", cooldown, 0.0),
            ("min_refetch_interval", min_refetch_interval, 0.0),
            ("timeout", timeout, 0.0),
        ):
            if not isinstance(value, int | float) or not math.isfinite(value) or value < minimum:
                raise ConfigurationError(f"JWKS {name} must be a finite number of seconds >= {minimum:g}")
        if max_age == 0 or timeout == 0:
            raise ConfigurationError("JWKS max_age and timeout must be longer than 0 s")
        self._url = url
        self._http = http
        self._headers = dict(headers or {})
        self._max_age = max_age
        self._cooldown = cooldown
        self._min_interval = min_refetch_interval
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._completed = 0
        self._last_fetch_ok = False
        self._absent: OrderedDict[str, float] = OrderedDict()
        self._absent_max = absent_kids_max
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        """True when at least one key is cached (possibly stale but still served)."""
        return bool(self._keys)

    async def get_key(self, kid: str | None) -> SigningKey:
        """The key for ``kid``; the lock is taken only when the set is stale or the ``kid`` is new."""
        if kid is None:
            # Every JWKS key we keep has a kid; a token without one cannot match, whatever we fetch.
            raise _kid_mismatch()
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None and self._is_fresh(now):
            return key
        if key is None and self._proven_absent(kid, now):
            raise _kid_mismatch()
        completed = self._completed
        async with self._lock:
            if self._completed == completed:  # nobody fetched since we arrived: it is up to us
                if key is None:
                    await self._wait_for_fetch_slot()
                    await self._refresh()
                elif self._may_fetch(self._clock()):
                    await self._refresh()
            key = self._keys.get(kid)
            fetch_ok = self._last_fetch_ok
            if key is None and fetch_ok:
                self._remember_absent(kid)
        if key is not None:
            return key
        if not fetch_ok:
            raise KeySetUnavailableError("The JWKS could not be loaded to find the token's signing key.")
        raise _kid_mismatch()

    async def warm(self) -> bool:
        """Fetch once at start-up so the first request does not pay for it; failure is not fatal."""
        async with self._lock:
            if not self._keys:
                await self._refresh()
        return bool(self._keys)

    def _is_fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self._max_age

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_interval

    async def _wait_for_fetch_slot(self) -> None:
        if self._attempted_at is not None:
            delay = self._attempted_at + self._min_interval - self._clock()
            if delay > 0:
                await self._sleep(delay)

    def _proven_absent(self, kid: str, now: float) -> bool:
        seen_at = self._absent.get(kid)
        if seen_at is None:
            return False
        if now - seen_at < self._cooldown:
            return True
        del self._absent[kid]
        return False

    def _remember_absent(self, kid: str) -> None:
        self._absent[kid] = self._clock()
        self._absent.move_to_end(kid)
        while len(self._absent) > self._absent_max:
            self._absent.popitem(last=False)

    async def _refresh(self) -> None:
        self._attempted_at = self._clock()
        # Only a fetch that ran to an answer counts as completed: if this task is cancelled mid-fetch, callers
        # queued behind it must fetch for themselves rather than read an older fetch's outcome.
        try:
            keys = await self._fetch()
        except KeySetUnavailableError as exc:
            if self._keys:
                logger.warning("JWKS refresh failed; serving the last good keys: %s", exc.message)
            else:
                logger.error("JWKS fetch failed and no keys are cached: %s", exc.message)
            self._last_fetch_ok = False
            self._completed += 1
            return
        self._keys = keys
        self._fetched_at = self._clock()
        self._last_fetch_ok = True
        self._completed += 1
        for listed in keys:
            self._absent.pop(listed, None)

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


def _kid_mismatch() -> SigningKeyNotFoundError:
    return SigningKeyNotFoundError(
        "Unable to find a signing key in JWKS that matches the kid of the provided session token."
    )
