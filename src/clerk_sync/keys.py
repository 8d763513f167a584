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
import threading
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

__all__ = [
    "ALLOWED_ALGORITHMS",
    "PEM_ALGORITHM",
    "JwksKeySet",
    "KeySet",
    "PemKeySet",
    "SigningKey",
    "SyncJwksKeySet",
    "SyncKeySet",
    "SyncPemKeySet",
    "load_pem_key",
]

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
    """Where the async verifier gets the key for a token's ``kid``."""

    async def get_key(self, kid: str | None) -> SigningKey:
        """Return the key, or raise ``SigningKeyNotFoundError`` / ``KeySetUnavailableError``."""
        ...

    @property
    def ready(self) -> bool:
        """True when a key is at hand without a network call that could fail (for ``/readyz``)."""
        ...


class SyncKeySet(Protocol):
    """``KeySet`` for the synchronous verifier (WSGI apps, threads): the same answers, a blocking lookup."""

    def get_key(self, kid: str | None) -> SigningKey:
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


class _PemKey:
    """The one configured key and its RS256 pin, shared by the async and the sync PEM key sets."""

    def __init__(self, key: RSAPublicKey | str) -> None:
        self._key = SigningKey(None, load_pem_key(key) if isinstance(key, str) else key, PEM_ALGORITHM)

    @property
    def ready(self) -> bool:
        """Always: the key is in memory."""
        return True


class PemKeySet(_PemKey):
    """Networkless verification: one configured key, used whatever the token's ``kid`` says (as Clerk does).

    The key verifies RS256 only. Clerk's ``loadClerkJwkFromPem`` turns ``CLERK_JWT_KEY`` into a JWK with
    ``alg: "RS256"``, so an RS384 or RS512 token, or one whose header names another algorithm than its
    signature used, is refused (``token-verification-failed``) rather than verified with another hash.
    """

    async def get_key(self, kid: str | None) -> SigningKey:
        """Return the configured key."""
        return self._key


class SyncPemKeySet(_PemKey):
    """``PemKeySet`` for the synchronous verifier: the same key, the same RS256 pin."""

    def get_key(self, kid: str | None) -> SigningKey:
        """Return the configured key."""
        return self._key


class _JwksCache:
    """The JWKS cache rules with no I/O and no lock: what a key set knows, and whether it must fetch.

    ``JwksKeySet`` and ``SyncJwksKeySet`` hold one each and differ only in how they wait, lock and fetch: they
    call ``cached`` without their lock, ``fetch_delay`` under it, run the fetch and report it with
    ``fetch_started`` / ``fetch_succeeded`` / ``fetch_failed``, then ``settle``. Mutations happen only under
    the owner's lock; the lock-free reads (``cached``) see either the old or the new key dict, never a mix.
    """

    def __init__(
        self,
        *,
        max_age: float,
        cooldown: float,
        min_refetch_interval: float,
        clock: Callable[[], float],
        absent_kids_max: int,
    ) -> None:
        self._max_age = max_age
        self._cooldown = cooldown
        self._min_interval = min_refetch_interval
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        #: Fetches that ran to an answer; a caller that sees it change while queued uses that answer.
        self.completed = 0
        self._last_fetch_ok = False
        self._absent: OrderedDict[str, float] = OrderedDict()
        self._absent_max = absent_kids_max

    @property
    def ready(self) -> bool:
        """True when at least one key is cached (possibly stale but still served)."""
        return bool(self._keys)

    def cached(self, kid: str | None) -> SigningKey | None:
        """The key when a fresh set has it; None when the caller must take the lock; raises when ``kid`` cannot
        match (absent, or proven absent within the cooldown)."""
        if kid is None:
            # Every JWKS key we keep has a kid; a token without one cannot match, whatever we fetch.
            raise _kid_mismatch()
        now = self._clock()
        key = self._keys.get(kid)
        if key is not None:
            return key if self._is_fresh(now) else None
        if self._proven_absent(kid, now):
            raise _kid_mismatch()
        return None

    def fetch_delay(self, kid: str, completed_on_arrival: int) -> float | None:
        """Under the lock: None when no fetch is due, else the seconds to wait for the fetch slot, then fetch.

        Nobody fetched since the caller arrived (``completed`` unchanged), so the key dict is the one it saw:
        an unknown ``kid`` always fetches (waiting for the slot rather than being refused); a stale known one
        refreshes only when the slot is free, and otherwise keeps serving the key it has.
        """
        if self.completed != completed_on_arrival:
            return None
        now = self._clock()
        if kid not in self._keys:
            if self._attempted_at is None:
                return 0.0
            return max(0.0, self._attempted_at + self._min_interval - now)
        return 0.0 if self._may_fetch(now) else None

    def needs_first_fetch(self) -> bool:
        """Under the lock, for ``warm``: nothing cached yet."""
        return not self._keys

    def fetch_started(self) -> None:
        """Record the attempt: the next one waits ``min_refetch_interval`` from now."""
        self._attempted_at = self._clock()

    def fetch_succeeded(self, keys: dict[str, SigningKey]) -> None:
        """Serve the new keys; any kid they list is no longer proven absent."""
        self._keys = keys
        self._fetched_at = self._clock()
        self._last_fetch_ok = True
        self.completed += 1
        for listed in keys:
            self._absent.pop(listed, None)

    def fetch_failed(self, error: KeySetUnavailableError) -> None:
        """Keep the last good keys; only callers needing an unknown ``kid`` see the outage."""
        if self._keys:
            logger.warning("JWKS refresh failed; serving the last good keys: %s", error.message)
        else:
            logger.error("JWKS fetch failed and no keys are cached: %s", error.message)
        self._last_fetch_ok = False
        self.completed += 1

    def settle(self, kid: str) -> SigningKey:
        """Under the lock, after any fetch: the key, or the refusal (absent -> remembered; outage -> 503)."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        if not self._last_fetch_ok:
            raise KeySetUnavailableError("The JWKS could not be loaded to find the token's signing key.")
        self._remember_absent(kid)
        raise _kid_mismatch()

    def _is_fresh(self, now: float) -> bool:
        fetched_at = self._fetched_at
        return fetched_at is not None and now - fetched_at < self._max_age

    def _may_fetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._min_interval

    def _proven_absent(self, kid: str, now: float) -> bool:
        seen_at = self._absent.get(kid)
        if seen_at is None:
            return False
        if now - seen_at < self._cooldown:
            return True
        # Lock-free: two threads may both find the entry expired, so neither may insist on deleting it.
        self._absent.pop(kid, None)
        return False

    def _remember_absent(self, kid: str) -> None:
        self._absent[kid] = self._clock()
        self._absent.move_to_end(kid)
        while len(self._absent) > self._absent_max:
            self._absent.popitem(last=False)


class _JwksSource:
    """What both JWKS key sets share: the endpoint, its credential, the validated options and the cache."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None,
        max_age: float,
        cooldown: float,
        min_refetch_interval: float,
        timeout: float,
        clock: Callable[[], float],
        absent_kids_max: int,
    ) -> None:
        for name, value in (
            ("max_age", max_age),
            ("cooldown", cooldown),
            ("min_refetch_interval", min_refetch_interval),
            ("timeout", timeout),
        ):
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"JWKS {name} must be a finite number of seconds >= 0")
        if max_age == 0 or timeout == 0:
            raise ConfigurationError("JWKS max_age and timeout must be longer than 0 s")
        self._url = url
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._cache = _JwksCache(
            max_age=max_age,
            cooldown=cooldown,
            min_refetch_interval=min_refetch_interval,
            clock=clock,
            absent_kids_max=absent_kids_max,
        )

    @property
    def ready(self) -> bool:
        """True when at least one key is cached (possibly stale but still served)."""
        return self._cache.ready

    def _unreachable(self, exc: httpx.HTTPError) -> KeySetUnavailableError:
        return KeySetUnavailableError(f"Error loading JWKS from {self._url}: {type(exc).__name__}")


class JwksKeySet(_JwksSource):
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

    The rules live in ``_JwksCache``; this class adds only the ``asyncio.Lock`` and the ``httpx.AsyncClient``.
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
        super().__init__(
            url,
            headers=headers,
            max_age=max_age,
            cooldown=cooldown,
            min_refetch_interval=min_refetch_interval,
            timeout=timeout,
            clock=clock,
            absent_kids_max=absent_kids_max,
        )
        self._http = http
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def get_key(self, kid: str | None) -> SigningKey:
        """The key for ``kid``; the lock is taken only when the set is stale or the ``kid`` is new."""
        key = self._cache.cached(kid)
        if key is not None:
            return key
        assert kid is not None  # cached() refuses a missing kid
        completed = self._cache.completed
        async with self._lock:
            delay = self._cache.fetch_delay(kid, completed)
            if delay is not None:
                if delay > 0:
                    await self._sleep(delay)
                await self._refresh()
            return self._cache.settle(kid)

    async def warm(self) -> bool:
        """Fetch once at start-up so the first request does not pay for it; failure is not fatal."""
        async with self._lock:
            if self._cache.needs_first_fetch():
                await self._refresh()
        return self._cache.ready

    async def _refresh(self) -> None:
        self._cache.fetch_started()
        # Only a fetch that ran to an answer counts as completed: if this task is cancelled mid-fetch, callers
        # queued behind it must fetch for themselves rather than read an older fetch's outcome.
        try:
            try:
                response = await self._http.get(self._url, headers=self._headers, timeout=self._timeout)
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
            keys = _keys_from_response(response)
        except KeySetUnavailableError as exc:
            self._cache.fetch_failed(exc)
            return
        self._cache.fetch_succeeded(keys)


class SyncJwksKeySet(_JwksSource):
    """``JwksKeySet`` for synchronous apps: the same options and cache rules, on ``httpx.Client``.

    Single-flight holds across threads: a ``threading.Lock`` plays the ``asyncio.Lock``'s part, so many threads
    that meet a new ``kid`` together cost one fetch, and the wait for the fetch slot blocks (``sleep``,
    ``time.sleep`` by default) only the thread holding the lock and those queued behind it.
    """

    def __init__(
        self,
        url: str,
        http: httpx.Client,
        *,
        headers: Mapping[str, str] | None = None,
        max_age: float = 300.0,
        cooldown: float = 30.0,
        min_refetch_interval: float = 1.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        absent_kids_max: int = 4096,
    ) -> None:
        super().__init__(
            url,
            headers=headers,
            max_age=max_age,
            cooldown=cooldown,
            min_refetch_interval=min_refetch_interval,
            timeout=timeout,
            clock=clock,
            absent_kids_max=absent_kids_max,
        )
        self._http = http
        self._sleep = sleep
        self._lock = threading.Lock()

    def get_key(self, kid: str | None) -> SigningKey:
        """The key for ``kid``; the lock is taken only when the set is stale or the ``kid`` is new."""
        key = self._cache.cached(kid)
        if key is not None:
            return key
        assert kid is not None  # cached() refuses a missing kid
        completed = self._cache.completed
        with self._lock:
            delay = self._cache.fetch_delay(kid, completed)
            if delay is not None:
                if delay > 0:
                    self._sleep(delay)
                self._refresh()
            return self._cache.settle(kid)

    def warm(self) -> bool:
        """Fetch once at start-up so the first request does not pay for it; failure is not fatal."""
        with self._lock:
            if self._cache.needs_first_fetch():
                self._refresh()
        return self._cache.ready

    def _refresh(self) -> None:
        self._cache.fetch_started()
        try:
            try:
                response = self._http.get(self._url, headers=self._headers, timeout=self._timeout)
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from exc
            keys = _keys_from_response(response)
        except KeySetUnavailableError as exc:
            self._cache.fetch_failed(exc)
            return
        self._cache.fetch_succeeded(keys)


def _keys_from_response(response: httpx.Response) -> dict[str, SigningKey]:
    """The signing keys in a JWKS endpoint's answer, or ``KeySetUnavailableError`` when it holds none.

    Both key sets call it with their (already read) response, so status, JSON and key rules are written once.
    """
    url = response.request.url
    if response.status_code != 200:
        raise KeySetUnavailableError(f"Error loading JWKS from {url} with code={response.status_code}")
    try:
        document = response.json()
    except ValueError as exc:
        raise KeySetUnavailableError(f"JWKS from {url} is not JSON") from exc
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
