"""The synchronous verification path as a WSGI app runs it: real OS threads sharing one ``SyncJwksKeySet``,
``SyncTokenVerifier`` and ``SyncAuthenticator``, against a real JWKS endpoint on 127.0.0.1 over ``httpx.Client``.

The cache rules themselves run on both key sets in ``tests/test_keys.py``; the cookie rules on both
authenticators in ``tests/test_authenticator.py``; the verdicts of both verifiers on Clerk's corpus in
``tests/test_differential.py``. This module covers what only threads and the sync builders can show.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TypeVar, cast

import httpx
import pytest

from clerk_sync.authenticator import SyncAuthenticator
from clerk_sync.bootstrap import build_sync_authenticator, build_sync_key_set, build_sync_verifier
from clerk_sync.claims import SessionClaims
from clerk_sync.errors import (
    SessionTokenIatBeforeClientUatError,
    SigningKeyNotFoundError,
    TokenInvalidSignatureError,
)
from clerk_sync.issuer import TokenIssuer
from clerk_sync.keys import SyncJwksKeySet, SyncPemKeySet
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing.jwks_server import JwksServer
from clerk_sync.verify import SyncTokenVerifier

T = TypeVar("T")

APP = "http://localhost:3000"  # the kit's default azp
THREADS = 64


class Clock:
    """A fake monotonic clock whose ``sleep`` advances it (called by the thread holding the fetch lock)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def in_threads(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run each call on its own OS thread, all released at once by a barrier; results (or errors) in order."""
    barrier = threading.Barrier(len(calls))
    results: list[T | BaseException | None] = [None] * len(calls)

    def run(index: int, call: Callable[[], T]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result is not None for result in results)
    return cast("list[T | BaseException]", results)


def subs(results: Sequence[SessionClaims | BaseException | None]) -> list[str]:
    """Each result's ``sub``, or the error's repr, so a failed assertion shows what went wrong."""
    return [result.sub if isinstance(result, SessionClaims) else repr(result) for result in results]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def server(fresh_clerk_issuer: TokenIssuer) -> Iterator[JwksServer]:
    with JwksServer(fresh_clerk_issuer) as running:
        yield running


def test_threads_meeting_a_new_kid_cost_one_fetch(server: JwksServer, http: httpx.Client) -> None:
    """After a rotation, 64 threads verifying tokens with the new kid at once share one JWKS fetch, and all
    verify: the threading.Lock makes the refetch single-flight as the asyncio.Lock does for tasks."""
    clock = Clock()
    verifier = SyncTokenVerifier(SyncJwksKeySet(server.url, http, clock=clock, sleep=clock.sleep))
    assert verifier.verify(server.issuer.mint("user_before")).sub == "user_before"
    clock.now += 60
    server.issuer.rotate(keep_old=True)
    server.delay = 0.2  # the fetch is still under way while the other threads queue behind it
    tokens = [server.issuer.mint(f"user_{i}") for i in range(THREADS)]
    results = in_threads([partial(verifier.verify, token) for token in tokens])
    assert subs(results) == [f"user_{i}" for i in range(THREADS)]
    assert server.requests == 2


def test_threads_meeting_forged_kids_cost_one_fetch_and_no_more(server: JwksServer, http: httpx.Client) -> None:
    """64 threads with 64 forged kids during one fetch are all refused with jwk-kid-mismatch for one fetch;
    sending them again costs nothing (the negative cache is shared by every thread)."""
    clock = Clock()
    keys = SyncJwksKeySet(server.url, http, clock=clock, sleep=clock.sleep)
    assert keys.warm()
    clock.now += 60
    server.delay = 0.5
    forged = [f"ins_forged_{i}" for i in range(THREADS)]
    for _ in range(2):
        results = in_threads([partial(keys.get_key, kid) for kid in forged])
        assert all(isinstance(result, SigningKeyNotFoundError) for result in results), results
        assert server.requests == 2


def test_rotation_is_picked_up(server: JwksServer, http: httpx.Client) -> None:
    """A token signed with a key Clerk published after start-up verifies on its first request (after the 1 s
    fetch slot, slept through ``sleep``), and tokens signed with the old key keep verifying."""
    clock = Clock()
    keys = SyncJwksKeySet(server.url, http, clock=clock, sleep=clock.sleep)
    verifier = SyncTokenVerifier(keys, now=time.time)
    assert keys.warm()
    old_token = server.issuer.mint("user_old")
    server.issuer.rotate(keep_old=True)
    clock.now += 0.25
    assert verifier.verify(server.issuer.mint("user_new")).sub == "user_new"
    assert verifier.verify(old_token).sub == "user_old"
    assert server.requests == 2
    assert sum(clock.slept) == pytest.approx(0.75)


def test_verified_token_cache_is_safe_across_threads(clerk_issuer: TokenIssuer) -> None:
    """A small LRU evicting under 16 threads that look up, insert and evict the same entries at once never
    raises and never answers with another token's claims."""
    verifier = SyncTokenVerifier(SyncPemKeySet(clerk_issuer.public_key), cache_size=3)
    tokens = [clerk_issuer.mint(f"user_{i}") for i in range(8)]

    def worker(offset: int) -> list[str]:
        return [verifier.verify(tokens[(offset + i) % len(tokens)]).sub for i in range(200)]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so an unguarded LRU would break
    try:
        results = in_threads([partial(worker, offset) for offset in range(16)])
    finally:
        sys.setswitchinterval(interval)
    for offset, result in enumerate(results):
        assert result == [f"user_{(offset + i) % len(tokens)}" for i in range(200)]
    assert verifier.cache is not None
    assert len(verifier.cache) <= 3


def test_sync_builders_authenticate_threads_with_cookie_rules(server: JwksServer, http: httpx.Client) -> None:
    """Settings -> build_sync_key_set / build_sync_verifier / build_sync_authenticator, as a WSGI app starts:
    header and cookie requests on many threads get the same answers the cookie rules give one at a time, and
    the key set fetched once."""
    settings = ClerkSettings(jwks_url=server.url, authorized_parties=(APP,), _env_file=None)
    keys = build_sync_key_set(settings, http)
    assert isinstance(keys, SyncJwksKeySet)
    auth = build_sync_authenticator(settings, build_sync_verifier(settings, keys))
    assert isinstance(auth, SyncAuthenticator)
    now = int(time.time())
    issuer = server.issuer
    forged = TokenIssuer(kid=issuer.kid).mint("user_forged", now=now)
    cases: list[tuple[str | None, dict[str, str], str]] = []
    for i in range(16):
        token = issuer.mint(f"user_{i}", now=now)
        cases.append((f"Bearer {token}", {}, f"user_{i}"))
        cases.append((None, {"__session": token, "__client_uat": str(now)}, f"user_{i}"))
        cases.append((None, {"__session": token, "__client_uat": str(now + 10)}, "iat-before-client-uat"))
        cases.append((None, {"__session": forged, "__client_uat": str(now)}, "forged"))
        cases.append((None, {"__client_uat": str(now)}, "anonymous"))

    def call(authorization: str | None, cookies: dict[str, str]) -> str:
        try:
            claims = auth.authenticate(authorization, cookies)
        except SessionTokenIatBeforeClientUatError:
            return "iat-before-client-uat"
        except TokenInvalidSignatureError:
            return "forged"
        return "anonymous" if claims is None else claims.sub

    results = in_threads([partial(call, a, c) for a, c, _ in cases])
    assert results == [expected for _, _, expected in cases]
    assert server.requests == 1


def test_sync_builders_choose_the_same_key_source(fresh_clerk_issuer: TokenIssuer, http: httpx.Client) -> None:
    """The key-source decision is the async builders': a PEM wins and needs no network; the Backend API JWKS
    is fetched with the secret key as bearer."""
    pem = ClerkSettings(jwt_key=fresh_clerk_issuer.public_pem(), secret_key="sk_test_right", _env_file=None)
    pem_keys = build_sync_key_set(pem, http)
    assert isinstance(pem_keys, SyncPemKeySet)
    assert build_sync_verifier(pem, pem_keys).verify(fresh_clerk_issuer.mint("user_pem")).sub == "user_pem"
    with JwksServer(fresh_clerk_issuer, require_bearer="sk_test_right") as server:
        backend = ClerkSettings(secret_key="sk_test_right", api_url=server.base_url, _env_file=None)
        keys = build_sync_key_set(backend, http)
        assert isinstance(keys, SyncJwksKeySet)
        assert build_sync_verifier(backend, keys).verify(fresh_clerk_issuer.mint("user_api")).sub == "user_api"
        assert server.requests == 1
