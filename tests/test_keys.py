"""JWKS cache and PEM key tests against a real JWKS endpoint on 127.0.0.1 (the test kit's JwksServer).

The cache-rule tests take a ``flavour`` and run twice: on ``JwksKeySet`` (asyncio, ``httpx.AsyncClient``) and on
``SyncJwksKeySet`` (threads, ``httpx.Client``), so both key sets are held to the same rules. Concurrency is
real in both: tasks under ``asyncio.gather``, or one OS thread per caller released together by a barrier.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI

from clerk_sync.claims import SessionClaims
from clerk_sync.errors import (
    ConfigurationError,
    KeySetUnavailableError,
    SigningKeyNotFoundError,
    TokenInvalidSignatureError,
    TokenVerificationFailedError,
)
from clerk_sync.fastapi import Claims, ClerkSync, install_exception_handlers
from clerk_sync.issuer import TokenIssuer
from clerk_sync.keys import JwksKeySet, PemKeySet, SigningKey, SyncJwksKeySet, SyncPemKeySet, load_pem_key
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing.jwks_server import JwksServer
from clerk_sync.verify import SyncTokenVerifier, TokenVerifier
from tests.asgi import serving

pytestmark = pytest.mark.anyio

T = TypeVar("T")


class Clock:
    """A fake monotonic clock; ``sleep`` advances it, so waiting for a refetch slot costs no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleep_sync(seconds)
        await asyncio.sleep(0)

    def sleep_sync(self, seconds: float) -> None:
        """The sync key set's ``sleep``: called by the thread holding the fetch lock."""
        self.slept.append(seconds)
        self.now += seconds


class Keys(Protocol):
    """A key set as the tests drive it: awaitable whatever its flavour."""

    async def get_key(self, kid: str | None) -> SigningKey: ...

    async def warm(self) -> bool: ...


class Verifier(Protocol):
    """A verifier as the tests drive it."""

    async def verify(self, token: str) -> SessionClaims: ...


def in_threads(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run each call on its own thread, all released at once by a barrier; results (or errors) in order."""
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


class AsyncFlavour:
    """``JwksKeySet`` and ``TokenVerifier``; concurrency is tasks on one event loop."""

    name = "async"
    #: The endpoint's delay in the concurrency tests: every task reaches the key set before the fetch ends.
    slow_fetch = 0.05

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    def key_set(self, url: str, *, clock: Clock | None = None, **kwargs: Any) -> JwksKeySet:
        if clock is not None:
            kwargs.update(clock=clock, sleep=clock.sleep)
        return JwksKeySet(url, self.http, **kwargs)

    def pem_key_set(self, key: str) -> PemKeySet:
        return PemKeySet(key)

    def verifier(self, keys: Any, **kwargs: Any) -> TokenVerifier:
        return TokenVerifier(keys, **kwargs)

    async def get_keys(self, keys: Keys, kids: Sequence[str]) -> list[SigningKey | BaseException]:
        return await asyncio.gather(*(keys.get_key(kid) for kid in kids), return_exceptions=True)

    async def verify_all(self, verifier: Verifier, tokens: Sequence[str]) -> list[SessionClaims | BaseException]:
        return await asyncio.gather(*(verifier.verify(token) for token in tokens), return_exceptions=True)


class SyncKeys:
    """Drives a ``SyncJwksKeySet`` (or ``SyncPemKeySet``) from an async test: each call runs synchronously."""

    def __init__(self, inner: SyncJwksKeySet | SyncPemKeySet) -> None:
        self.inner = inner

    async def get_key(self, kid: str | None) -> SigningKey:
        return self.inner.get_key(kid)

    async def warm(self) -> bool:
        assert isinstance(self.inner, SyncJwksKeySet)
        return self.inner.warm()

    @property
    def ready(self) -> bool:
        return self.inner.ready


class SyncVerifier:
    """Drives a ``SyncTokenVerifier`` from an async test."""

    def __init__(self, inner: SyncTokenVerifier) -> None:
        self.inner = inner

    async def verify(self, token: str) -> SessionClaims:
        return self.inner.verify(token)


class SyncFlavour:
    """``SyncJwksKeySet`` and ``SyncTokenVerifier``; concurrency is one OS thread per caller."""

    name = "sync"
    #: Threads released by a barrier wake one by one; this delay lets all of them reach the key set while the
    #: one fetch is under way (a thread arriving after it ends would rightly need a fetch of its own).
    slow_fetch = 0.5

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def key_set(self, url: str, *, clock: Clock | None = None, **kwargs: Any) -> SyncKeys:
        if clock is not None:
            kwargs.update(clock=clock, sleep=clock.sleep_sync)
        return SyncKeys(SyncJwksKeySet(url, self.http, **kwargs))

    def pem_key_set(self, key: str) -> SyncKeys:
        return SyncKeys(SyncPemKeySet(key))

    def verifier(self, keys: Any, **kwargs: Any) -> SyncVerifier:
        return SyncVerifier(SyncTokenVerifier(keys.inner, **kwargs))

    async def get_keys(self, keys: Any, kids: Sequence[str]) -> list[SigningKey | BaseException]:
        inner = keys.inner
        calls = [lambda kid=kid: inner.get_key(kid) for kid in kids]
        return await anyio.to_thread.run_sync(in_threads, calls)

    async def verify_all(self, verifier: Any, tokens: Sequence[str]) -> list[SessionClaims | BaseException]:
        inner = verifier.inner
        calls = [lambda token=token: inner.verify(token) for token in tokens]
        return await anyio.to_thread.run_sync(in_threads, calls)


Flavour = AsyncFlavour | SyncFlavour


@pytest.fixture(params=["async", "sync"])
async def flavour(request: pytest.FixtureRequest) -> AsyncIterator[Flavour]:
    """Each cache-rule test once per key set: async on ``httpx.AsyncClient``, sync on ``httpx.Client``."""
    if request.param == "async":
        async with httpx.AsyncClient() as client:
            yield AsyncFlavour(client)
    else:
        with httpx.Client() as sync_client:
            yield SyncFlavour(sync_client)


@pytest.fixture
def server(fresh_clerk_issuer: TokenIssuer):
    with JwksServer(fresh_clerk_issuer) as running:
        yield running


def key_set(server: JwksServer, flavour: Flavour, clock: Clock, **kwargs: Any) -> Keys:
    keys: Keys = flavour.key_set(server.url, clock=clock, **kwargs)
    return keys


async def test_verifies_through_jwks(server: JwksServer, flavour: Flavour) -> None:
    """A token verifies with a key fetched from the JWKS endpoint."""
    verifier = flavour.verifier(flavour.key_set(server.url))
    assert (await verifier.verify(server.issuer.mint("user_j"))).sub == "user_j"
    assert server.requests == 1


async def test_fresh_cache_is_not_refetched(server: JwksServer, flavour: Flavour) -> None:
    """Within max_age, any number of lookups of a known kid costs no request."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    for _ in range(50):
        await keys.get_key(server.issuer.kid)
        clock.now += 5
    assert server.requests == 1


async def test_refetch_after_max_age(server: JwksServer, flavour: Flavour) -> None:
    """After 5 minutes the keys are fetched again."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.get_key(server.issuer.kid)
    clock.now += 299
    await keys.get_key(server.issuer.kid)
    assert server.requests == 1
    clock.now += 2
    await keys.get_key(server.issuer.kid)
    assert server.requests == 2


async def test_unknown_kid_refetches_once_per_cooldown(server: JwksServer, flavour: Flavour) -> None:
    """An unknown kid triggers one refetch; repeats within 30 s cost nothing and say jwk-kid-mismatch."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.get_key(server.issuer.kid)
    clock.now += 31
    for _ in range(5):
        with pytest.raises(SigningKeyNotFoundError) as info:
            await keys.get_key("ins_unknown")
        assert info.value.code == "jwk-kid-mismatch"
    assert server.requests == 2
    clock.now += 29
    with pytest.raises(SigningKeyNotFoundError):
        await keys.get_key("ins_unknown")
    assert server.requests == 2
    clock.now += 2
    with pytest.raises(SigningKeyNotFoundError):
        await keys.get_key("ins_unknown")
    assert server.requests == 3


async def test_key_rotation(server: JwksServer, flavour: Flavour) -> None:
    """After Clerk rotates keys, tokens with the new kid verify (one refetch) and old tokens keep verifying."""
    clock = Clock()
    verifier = flavour.verifier(key_set(server, flavour, clock))
    issuer = server.issuer
    old_token = issuer.mint("user_old")
    assert (await verifier.verify(old_token)).sub == "user_old"
    clock.now += 60
    issuer.rotate(keep_old=True)
    assert (await verifier.verify(issuer.mint("user_new"))).sub == "user_new"
    assert (await verifier.verify(old_token)).sub == "user_old"
    assert server.requests == 2


async def test_hundred_concurrent_unknown_kids_share_one_fetch(server: JwksServer, flavour: Flavour) -> None:
    """100 concurrent lookups of a new kid cause exactly one JWKS request, and all succeed."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.get_key(server.issuer.kid)
    clock.now += 60
    server.issuer.rotate()
    server.delay = flavour.slow_fetch
    results = await flavour.get_keys(keys, [server.issuer.kid] * 100)
    assert {key.kid if isinstance(key, SigningKey) else repr(key) for key in results} == {server.issuer.kid}
    assert server.requests == 2


async def test_hundred_concurrent_cold_start_requests_share_one_fetch(server: JwksServer, flavour: Flavour) -> None:
    """With an empty cache, 100 concurrent verifications fetch the JWKS once."""
    server.delay = flavour.slow_fetch
    verifier = flavour.verifier(flavour.key_set(server.url))
    tokens = [server.issuer.mint(f"user_{i}") for i in range(100)]
    claims = await flavour.verify_all(verifier, tokens)
    assert [c.sub if isinstance(c, SessionClaims) else repr(c) for c in claims] == [f"user_{i}" for i in range(100)]
    assert server.requests == 1


async def test_outage_serves_stale_keys(server: JwksServer, flavour: Flavour) -> None:
    """When the endpoint fails after max_age, the last good keys keep working."""
    clock = Clock()
    verifier = flavour.verifier(key_set(server, flavour, clock))
    await verifier.verify(server.issuer.mint())
    server.status = 500
    clock.now += 600
    assert (await verifier.verify(server.issuer.mint("user_stale"))).sub == "user_stale"
    assert server.requests == 2
    # A failed refresh backs off instead of hammering the endpoint on every request.
    await verifier.verify(server.issuer.mint())
    assert server.requests == 2


async def test_outage_with_nothing_cached_is_unavailable(server: JwksServer, flavour: Flavour) -> None:
    """No keys at all -> jwk-remote-failed-to-load (503 upstream), never a 401 code."""
    server.status = 503
    with pytest.raises(KeySetUnavailableError) as info:
        await flavour.key_set(server.url).get_key(server.issuer.kid)
    assert info.value.code == "jwk-remote-failed-to-load"


async def test_recovers_after_outage(server: JwksServer, flavour: Flavour) -> None:
    """Once the endpoint answers again (after the failure backoff), keys load."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    server.status = 500
    with pytest.raises(KeySetUnavailableError):
        await keys.get_key(server.issuer.kid)
    server.status = 200
    clock.now += 2
    assert (await keys.get_key(server.issuer.kid)).kid == server.issuer.kid


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"keys": []}', b'{"keys": "x"}'])
async def test_unusable_documents_are_unavailable(server: JwksServer, flavour: Flavour, body: bytes) -> None:
    """Junk from the endpoint means no keys, reported as unavailable."""
    server.body = body
    with pytest.raises(KeySetUnavailableError):
        await flavour.key_set(server.url).get_key(server.issuer.kid)


async def test_unreachable_endpoint_is_unavailable(flavour: Flavour) -> None:
    """A closed port is an outage, not a crash."""
    with pytest.raises(KeySetUnavailableError):
        await flavour.key_set("http://127.0.0.1:1/jwks", timeout=1).get_key("k")


async def test_non_signing_and_foreign_keys_are_skipped(server: JwksServer, flavour: Flavour) -> None:
    """Encryption keys, EC keys, keys without kid and keys pinned to other algorithms are ignored."""
    good = server.issuer.jwks()["keys"][0]
    document = {
        "keys": [
            {**good, "kid": "enc", "use": "enc"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"},
            {**good, "kid": "hs", "alg": "HS256"},
            {k: v for k, v in good.items() if k != "kid"},
            {**good, "kid": "broken", "n": "!!"},
            good,
        ]
    }
    server.body = json.dumps(document).encode()
    keys = key_set(server, flavour, Clock())
    assert (await keys.get_key(good["kid"])).kid == good["kid"]
    for kid in ["enc", "ec", "hs", "broken"]:
        with pytest.raises(SigningKeyNotFoundError):
            await keys.get_key(kid)


async def test_jwk_algorithm_pin_is_enforced(server: JwksServer, flavour: Flavour) -> None:
    """A token whose alg differs from the JWK's alg is refused with Clerk's code (WebCrypto refuses the import)."""
    verifier = flavour.verifier(flavour.key_set(server.url))
    token = server.issuer.mint(algorithm="RS512")
    with pytest.raises(TokenVerificationFailedError):
        await verifier.verify(token)


async def test_backend_api_credential_is_sent(fresh_clerk_issuer: TokenIssuer, flavour: Flavour) -> None:
    """The Backend API JWKS needs the secret key as bearer; a wrong key yields no keys."""
    with JwksServer(fresh_clerk_issuer, require_bearer="sk_test_right") as server:
        good = flavour.key_set(f"{server.base_url}/v1/jwks", headers={"Authorization": "Bearer sk_test_right"})
        assert (await good.get_key(fresh_clerk_issuer.kid)).kid == fresh_clerk_issuer.kid
        bad = flavour.key_set(f"{server.base_url}/v1/jwks", headers={"Authorization": "Bearer sk_test_wrong"})
        with pytest.raises(KeySetUnavailableError):
            await bad.get_key(fresh_clerk_issuer.kid)


async def test_separate_instances_do_not_share_keys(flavour: Flavour) -> None:
    """Two key sets (two Clerk instances) never verify each other's tokens, even with the same kid."""
    a, b = TokenIssuer(kid="ins_same"), TokenIssuer(kid="ins_same")
    with JwksServer(a) as server_a, JwksServer(b) as server_b:
        verifier_a = flavour.verifier(flavour.key_set(server_a.url))
        verifier_b = flavour.verifier(flavour.key_set(server_b.url))
        await verifier_a.verify(a.mint())
        await verifier_b.verify(b.mint())
        with pytest.raises(TokenInvalidSignatureError):
            await verifier_a.verify(b.mint())


def test_pem_forms(clerk_issuer: TokenIssuer) -> None:
    """PEM with armor, without armor, and with literal \\n escapes all load; junk is a configuration error."""
    numbers = clerk_issuer.public_key.public_numbers()
    for text in [
        clerk_issuer.public_pem(),
        clerk_issuer.public_pem(armor=False),
        clerk_issuer.public_pem().replace("\n", "\\n"),
    ]:
        assert load_pem_key(text).public_numbers() == numbers
    for junk in ["", "not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]:
        with pytest.raises(ConfigurationError) as info:
            load_pem_key(junk)
        assert "CLERK_JWT_KEY" in info.value.message
    assert PemKeySet(clerk_issuer.public_pem()).ready
    assert SyncPemKeySet(clerk_issuer.public_pem()).ready


async def test_pem_key_serves_every_kid(clerk_issuer: TokenIssuer, flavour: Flavour) -> None:
    """A PEM key set answers with its one RS256 key whatever the token's kid (or none), with no network."""
    keys = flavour.pem_key_set(clerk_issuer.public_pem())
    for kid in (clerk_issuer.kid, "ins_other", None):
        key = await keys.get_key(kid)
        assert key.algorithm == "RS256"
        assert key.key.public_numbers() == clerk_issuer.public_key.public_numbers()
    verifier = flavour.verifier(keys)
    assert (await verifier.verify(clerk_issuer.mint("user_pem"))).sub == "user_pem"


@pytest.mark.parametrize(
    ("jwk_alg", "token_alg", "verifies"),
    [
        (None, "RS256", True),
        (None, "RS384", True),
        (None, "RS512", True),
        ("RS512", "RS512", True),
        ("RS512", "RS256", False),
        ("RS256", "RS384", False),
    ],
)
async def test_jwks_keys_keep_the_algorithm_their_jwk_names(
    server: JwksServer, flavour: Flavour, jwk_alg: str | None, token_alg: str, verifies: bool
) -> None:
    """A JWK with an alg verifies that algorithm only; a JWK without one verifies any of Clerk's three."""
    jwk = {k: v for k, v in server.issuer.jwks()["keys"][0].items() if k != "alg"}
    if jwk_alg is not None:
        jwk["alg"] = jwk_alg
    server.body = json.dumps({"keys": [jwk]}).encode()
    verifier = flavour.verifier(flavour.key_set(server.url))
    token = server.issuer.mint("user_alg", algorithm=token_alg)
    if verifies:
        assert (await verifier.verify(token)).sub == "user_alg"
    else:
        with pytest.raises(TokenVerificationFailedError):
            await verifier.verify(token)


@pytest.mark.parametrize("since_fetch", [0.0, 0.2, 0.999, 1.0])
async def test_rotation_right_after_a_fetch_verifies_on_the_first_request(
    server: JwksServer, flavour: Flavour, since_fetch: float
) -> None:
    """A new kid seen within a second of the start-up fetch verifies at once: its fetch waits for the 1 s slot."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    assert await keys.warm()
    server.issuer.rotate(keep_old=True)
    clock.now += since_fetch
    verifier = flavour.verifier(keys, now=lambda: time.time())
    assert (await verifier.verify(server.issuer.mint("user_rotated"))).sub == "user_rotated"
    assert server.requests == 2
    assert sum(clock.slept) == pytest.approx(max(0.0, 1.0 - since_fetch))


async def test_rotation_is_found_even_when_an_attacker_just_spent_the_fetch(
    server: JwksServer, flavour: Flavour
) -> None:
    """A forged kid that used the last fetch does not lock out a genuine new kid for 30 s: one second at most."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.warm()
    clock.now += 5
    with pytest.raises(SigningKeyNotFoundError):
        await keys.get_key("ins_forged")
    server.issuer.rotate(keep_old=True)
    started = clock.now
    assert (await keys.get_key(server.issuer.kid)).kid == server.issuer.kid
    assert clock.now - started <= 1.0
    assert server.requests == 3


async def test_flood_of_random_kids_costs_one_fetch_per_interval(server: JwksServer, flavour: Flavour) -> None:
    """1000 concurrent forged kids share one fetch; repeating them costs none (negative cache); a genuine new
    kid arriving in the same flood still verifies."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.warm()
    clock.now += 60
    server.issuer.rotate(keep_old=True)
    server.delay = flavour.slow_fetch
    forged = [f"ins_forged_{i}" for i in range(1000)]
    results = await flavour.get_keys(keys, [*forged, server.issuer.kid])
    assert all(isinstance(result, SigningKeyNotFoundError) for result in results[:-1])
    assert not isinstance(results[-1], BaseException)
    assert results[-1].kid == server.issuer.kid
    assert server.requests == 2
    again = await flavour.get_keys(keys, forged)
    assert all(isinstance(result, SigningKeyNotFoundError) for result in again)
    assert server.requests == 2


async def test_sequential_flood_is_bounded_by_time(server: JwksServer, flavour: Flavour) -> None:
    """One forged kid after another: each new one waits for the next slot, so fetches never exceed 1 per second."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.warm()
    started = clock.now
    for i in range(100):
        with pytest.raises(SigningKeyNotFoundError):
            await keys.get_key(f"ins_forged_{i}")
    elapsed = clock.now - started
    assert server.requests - 1 <= elapsed / 1.0 + 1
    assert server.requests == 101


async def test_negative_cache_expires_and_is_cleared_by_a_listing(server: JwksServer, flavour: Flavour) -> None:
    """A kid proven absent is refused without a fetch for the cooldown, retried after it, and forgotten as soon as
    any fetch lists it."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.warm()
    clock.now += 10
    with pytest.raises(SigningKeyNotFoundError):
        await keys.get_key("ins_later")
    assert server.requests == 2
    clock.now += 29
    with pytest.raises(SigningKeyNotFoundError):
        await keys.get_key("ins_later")
    assert server.requests == 2
    server.issuer.rotate(keep_old=True, kid="ins_later")
    with pytest.raises(SigningKeyNotFoundError):
        await keys.get_key("ins_other")  # a fetch for another kid lists ins_later ...
    assert server.requests == 3
    assert (await keys.get_key("ins_later")).kid == "ins_later"  # ... which clears its negative entry
    assert server.requests == 3


async def test_unknown_kid_during_an_outage_is_unavailable(server: JwksServer, flavour: Flavour) -> None:
    """When the fetch that should find a new kid fails, the answer is 503 jwk-remote-failed-to-load (retry), not a
    401 that would sign a freshly rotated user out; known kids keep verifying from the last good keys."""
    clock = Clock()
    keys = key_set(server, flavour, clock)
    await keys.warm()
    old_kid = server.issuer.kid
    server.issuer.rotate(keep_old=True)
    server.status = 500
    clock.now += 5
    with pytest.raises(KeySetUnavailableError):
        await keys.get_key(server.issuer.kid)
    assert (await keys.get_key(old_kid)).kid == old_kid
    server.status = 200
    clock.now += 5
    assert (await keys.get_key(server.issuer.kid)).kid == server.issuer.kid


@pytest.mark.parametrize(
    "kwargs",
    [{"min_refetch_interval": -1}, {"cooldown": float("nan")}, {"max_age": 0}, {"timeout": -5}],
)
async def test_impossible_cache_settings_are_configuration_errors(flavour: Flavour, kwargs: dict[str, Any]) -> None:
    """A negative interval, a NaN cooldown, a zero max_age or timeout cannot be right: refused at construction."""
    with pytest.raises(ConfigurationError):
        flavour.key_set("http://127.0.0.1:1/jwks", **kwargs)


async def test_rotation_over_http_right_after_start_up(fresh_clerk_issuer: TokenIssuer) -> None:
    """Through the app: the lifespan fetches the JWKS, Clerk rotates at once, and the first request carrying the
    new kid is 200 (it waits for the refetch slot, well under a second), not 401 jwk-kid-mismatch for 30 s."""
    with JwksServer(fresh_clerk_issuer) as server:
        clerk = ClerkSync(ClerkSettings(jwks_url=server.url, _env_file=None))
        app = FastAPI(lifespan=clerk.lifespan)
        install_exception_handlers(app)

        @app.get("/whoami")
        async def whoami(claims: Claims) -> dict[str, str]:
            return {"sub": claims.sub}

        async with serving(app) as client:
            assert server.requests == 1  # the start-up fetch
            fresh_clerk_issuer.rotate(keep_old=True)
            started = time.monotonic()
            token = fresh_clerk_issuer.mint("user_rotated")
            response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
            waited = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": "user_rotated"}
    assert server.requests == 2
    assert waited < 1.5


async def test_a_cancelled_fetch_does_not_answer_for_the_callers_behind_it(fresh_clerk_issuer: TokenIssuer) -> None:
    """If the request that started a refetch is cancelled (client gone), a caller queued behind it fetches for
    itself and finds the new kid, instead of reading the previous fetch's outcome as "absent".

    The endpoint is an httpx mock here so the first fetch can hang until it is cancelled, with no socket left
    half-written."""
    issuer = fresh_clerk_issuer
    hang = asyncio.Event()
    refetching = asyncio.Event()
    calls: list[int] = []

    async def endpoint(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 2:
            refetching.set()
            await hang.wait()  # the refetch started by the first caller never answers
        return httpx.Response(200, json=issuer.jwks())

    clock = Clock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(endpoint)) as http:
        keys = JwksKeySet("http://127.0.0.1/jwks", http, clock=clock, sleep=clock.sleep)
        await keys.warm()
        clock.now += 5
        issuer.rotate(keep_old=True)
        first = asyncio.create_task(keys.get_key(issuer.kid))
        await refetching.wait()  # the first caller's fetch is under way
        second = asyncio.create_task(keys.get_key(issuer.kid))
        for _ in range(10):  # let the second caller run up to the key set's lock, where it queues
            await asyncio.sleep(0)
        first.cancel()
        assert (await second).kid == issuer.kid
        with pytest.raises(asyncio.CancelledError):
            await first
    assert len(calls) == 3
