"""Outbound client: token injection, one shared refresh on 401, one resend.

Unit tests drive the auth through ``httpx.MockTransport``; integration tests run a real uvicorn server on
127.0.0.1 in a background thread, so concurrency goes through real sockets, a real connection pool and real
scheduling.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from clerk_sync.client import (
    AsyncTokenSource,
    CallableTokenSource,
    ClerkBearerAuth,
    StaticToken,
    SyncTokenSource,
    TokenSource,
    make_client,
    make_sync_client,
)
from clerk_sync.errors import TokenRefreshError
from tests.processes import wait_for

Scope = dict[str, Any]
Message = dict[str, Any]


# ----------------------------------------------------------------------------------------------------------
# Token sources used by the tests
# ----------------------------------------------------------------------------------------------------------


class AsyncRotatingSource:
    """Behaves like Clerk's getToken: serves ``tok-N``; a refresh mints ``tok-N+1`` after a delay.

    ``gate`` holds the first ``gate`` callers of ``get_token`` until all have arrived, so every one of them is
    guaranteed to carry the stale token, however the scheduler interleaves them.
    """

    def __init__(
        self,
        *,
        gate: int = 0,
        delay: float = 0.05,
        fail: Exception | None = None,
        give_none: bool = False,
    ) -> None:
        self.n = 0
        self.refreshes = 0
        self.stale_seen: list[str | None] = []
        self.delay = delay
        self.fail = fail
        self.give_none = give_none
        self._gate = gate
        self._arrived = 0
        self._open = anyio.Event()

    async def get_token(self) -> str | None:
        if self._gate:
            self._arrived += 1
            if self._arrived >= self._gate:
                self._gate = 0
                self._open.set()
            await self._open.wait()
        return f"tok-{self.n}"

    async def refresh(self, stale: str | None) -> str | None:
        self.refreshes += 1
        self.stale_seen.append(stale)
        await anyio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        if self.give_none:
            return None
        self.n += 1
        return f"tok-{self.n}"


class SyncRotatingSource:
    """Thread-safe blocking twin of :class:`AsyncRotatingSource`."""

    def __init__(self, *, gate: int = 0, delay: float = 0.05, fail: Exception | None = None) -> None:
        self.n = 0
        self.refreshes = 0
        self.delay = delay
        self.fail = fail
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(gate) if gate else None
        self._gate_used = 0

    def get_token_sync(self) -> str | None:
        with self._lock:
            barrier = self._barrier
            if barrier is not None:
                self._gate_used += 1
                if self._gate_used >= barrier.parties:
                    self._barrier = None
        if barrier is not None:
            barrier.wait(timeout=10)
        with self._lock:
            return f"tok-{self.n}"

    def refresh_sync(self, stale: str | None) -> str | None:
        with self._lock:
            self.refreshes += 1
        time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        with self._lock:
            self.n += 1
            return f"tok-{self.n}"


def accept_only(*tokens: str, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    """A mock API that answers 200 to the listed bearer tokens and 401 to anything else."""
    allowed = {f"Bearer {t}" for t in tokens}

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if request.headers.get("Authorization") in allowed:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, json={"code": "token-expired"})

    return httpx.MockTransport(handler)


def bearer(request: httpx.Request) -> str | None:
    value: str | None = request.headers.get("Authorization")
    return value


# ----------------------------------------------------------------------------------------------------------
# Unit tests (MockTransport)
# ----------------------------------------------------------------------------------------------------------


def test_adapters_satisfy_both_protocols() -> None:
    """The shipped adapters serve async and sync clients alike."""
    for source in (StaticToken("t"), CallableTokenSource(lambda force: "t")):
        assert isinstance(source, TokenSource)
        assert isinstance(source, AsyncTokenSource)
        assert isinstance(source, SyncTokenSource)


def test_reprs_never_show_the_token() -> None:
    """A token in a repr ends up in logs and tracebacks; the adapters and the auth redact it."""
    secret = "eyJhbGciOiJSUzI1NiJ9.secret"
    assert secret not in repr(StaticToken(secret))
    assert secret not in repr(ClerkBearerAuth(StaticToken(secret)))


def test_auth_rejects_an_object_that_is_not_a_source() -> None:
    """A wrong argument fails at construction, not on the first request."""
    with pytest.raises(TypeError, match="not a token source"):
        ClerkBearerAuth(object())  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_current_token_is_attached_and_200_is_not_refreshed() -> None:
    """A request that succeeds costs one send and no refresh."""
    source = AsyncRotatingSource()
    seen: list[httpx.Request] = []
    async with make_client("http://api", source, transport=accept_only("tok-0", seen=seen)) as client:
        response = await client.get("/me")
    assert response.status_code == 200
    assert [bearer(r) for r in seen] == ["Bearer tok-0"]
    assert source.refreshes == 0


@pytest.mark.anyio
async def test_no_token_sends_no_authorization_header() -> None:
    """A signed-out source (None) sends the request anonymously rather than ``Bearer None``."""
    seen: list[httpx.Request] = []
    source = CallableTokenSource(lambda force: None)
    async with make_client("http://api", source, transport=accept_only(seen=seen)) as client:
        response = await client.get("/public")
    assert response.status_code == 401
    assert len(seen) == 1
    assert "Authorization" not in seen[0].headers


@pytest.mark.anyio
async def test_async_flow_driven_by_hand() -> None:
    """The generator yields the request, then one resend with the new token, then stops."""
    source = AsyncRotatingSource(delay=0)
    flow = ClerkBearerAuth(source).async_auth_flow(httpx.Request("GET", "http://api/me"))
    first = await flow.__anext__()
    assert bearer(first) == "Bearer tok-0"
    retried = await flow.asend(httpx.Response(401))
    assert bearer(retried) == "Bearer tok-1"
    with pytest.raises(StopAsyncIteration):
        await flow.asend(httpx.Response(401))
    assert source.refreshes == 1


def test_sync_flow_driven_by_hand() -> None:
    """The blocking generator has the same shape: one resend at most."""
    source = SyncRotatingSource(delay=0)
    flow = ClerkBearerAuth(source).sync_auth_flow(httpx.Request("GET", "http://api/me"))
    assert bearer(next(flow)) == "Bearer tok-0"
    assert bearer(flow.send(httpx.Response(401))) == "Bearer tok-1"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))


@pytest.mark.anyio
async def test_static_token_401_is_returned_without_a_resend() -> None:
    """StaticToken's refresh gives the same token back, which must not cause a resend or a loop."""
    seen: list[httpx.Request] = []
    async with make_client("http://api", StaticToken("fixed"), transport=accept_only(seen=seen)) as client:
        response = await client.get("/me")
    assert response.status_code == 401
    assert len(seen) == 1


@pytest.mark.anyio
async def test_refresh_returning_none_returns_the_401() -> None:
    """None from refresh (signed out) is not an error of ours: the caller gets the server's 401."""
    source = AsyncRotatingSource(give_none=True, delay=0)
    seen: list[httpx.Request] = []
    async with make_client("http://api", source, transport=accept_only("tok-1", seen=seen)) as client:
        response = await client.get("/me")
    assert response.status_code == 401
    assert len(seen) == 1
    assert source.refreshes == 1


@pytest.mark.anyio
async def test_refresh_failure_raises_token_refresh_error_chained() -> None:
    """A refresh that raises surfaces as TokenRefreshError, cause kept, no token in the message."""
    cause = ConnectionError("clerk frontend api unreachable")
    source = AsyncRotatingSource(fail=cause, delay=0)
    async with make_client("http://api", source, transport=accept_only("tok-1")) as client:
        with pytest.raises(TokenRefreshError) as excinfo:
            await client.get("/me")
    assert excinfo.value.__cause__ is cause
    assert excinfo.value.code == "token-refresh-failed"
    assert "tok-" not in str(excinfo.value)


@pytest.mark.anyio
async def test_get_token_failure_raises_token_refresh_error() -> None:
    """A source that cannot produce even the first token fails typed, before anything is sent."""

    async def broken(force: bool) -> str | None:
        raise RuntimeError("boom")

    seen: list[httpx.Request] = []
    async with make_client("http://api", CallableTokenSource(broken), transport=accept_only(seen=seen)) as c:
        with pytest.raises(TokenRefreshError) as excinfo:
            await c.get("/me")
    assert isinstance(excinfo.value.__cause__, RuntimeError)
    assert seen == []


@pytest.mark.anyio
async def test_concurrent_refresh_failure_is_shared() -> None:
    """Ten requests waiting on one failing refresh all fail, after a single refresh attempt."""
    source = AsyncRotatingSource(gate=10, fail=ConnectionError("down"))
    errors: list[BaseException] = []
    async with make_client("http://api", source, transport=accept_only("tok-1")) as client:

        async def one() -> None:
            try:
                await client.get("/me")
            except TokenRefreshError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one)
    assert len(errors) == 10
    assert source.refreshes == 1


@pytest.mark.anyio
async def test_a_later_rotation_gets_its_own_refresh() -> None:
    """After one refresh, a 401 for a token minted later is not answered with the old refreshed token."""
    source = AsyncRotatingSource(delay=0)
    accepted = {"tok-1"}
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(bearer(request))
        ok = request.headers.get("Authorization", "").removeprefix("Bearer ") in accepted
        return httpx.Response(200 if ok else 401)

    async with make_client("http://api", source, transport=httpx.MockTransport(handler)) as client:
        assert (await client.get("/a")).status_code == 200  # tok-0 refused, refreshed to tok-1
        source.n = 2  # a minute later the source serves tok-2 on its own ...
        accepted = {"tok-3"}  # ... which the server already refuses
        assert (await client.get("/b")).status_code == 200
    assert source.refreshes == 2
    assert source.stale_seen == ["tok-0", "tok-2"]
    assert seen == ["Bearer tok-0", "Bearer tok-1", "Bearer tok-2", "Bearer tok-3"]


@pytest.mark.anyio
async def test_callable_source_passes_force_refresh_like_clerk_get_token() -> None:
    """fn(False) per request, fn(True) only after a 401: Clerk's getToken() / getToken({skipCache: true})."""
    calls: list[bool] = []
    current = ["tok-0"]

    async def get_token(force_refresh: bool) -> str | None:
        calls.append(force_refresh)
        if force_refresh:
            current[0] = "tok-1"
        return current[0]

    async with make_client("http://api", CallableTokenSource(get_token), transport=accept_only("tok-1")) as client:
        assert (await client.get("/a")).status_code == 200
        assert (await client.get("/b")).status_code == 200
    assert calls == [False, True, False]


def test_callable_source_sync_function_in_sync_client() -> None:
    """A plain function works with the blocking client and gets the same force flags."""
    calls: list[bool] = []

    def get_token(force_refresh: bool) -> str | None:
        calls.append(force_refresh)
        return "tok-1" if force_refresh else "tok-0"

    with make_sync_client("http://api", CallableTokenSource(get_token), transport=accept_only("tok-1")) as client:
        assert client.get("/a").status_code == 200
    assert calls == [False, True]


def test_async_callable_in_sync_client_fails_typed_without_warnings() -> None:
    """An async fn cannot serve a blocking client; the error says so and no coroutine is left unawaited."""

    async def get_token(force_refresh: bool) -> str | None:
        return "tok-0"

    source = CallableTokenSource(get_token)
    with (
        make_sync_client("http://api", source, transport=accept_only()) as client,
        pytest.raises(TokenRefreshError) as excinfo,
    ):
        client.get("/a")
    assert isinstance(excinfo.value.__cause__, TypeError)


def test_async_only_source_is_refused_by_the_sync_client() -> None:
    """make_sync_client checks up front; ClerkBearerAuth on a sync client raises on first use."""
    source = AsyncRotatingSource()
    with pytest.raises(TypeError, match="sync"):
        make_sync_client("http://api", source)  # type: ignore[arg-type]
    with (
        httpx.Client(auth=ClerkBearerAuth(source), transport=accept_only("tok-0")) as client,
        pytest.raises(RuntimeError, match="async-only"),
    ):
        client.get("http://api/me")


@pytest.mark.anyio
async def test_sync_only_source_works_in_async_client() -> None:
    """A blocking source is run in a worker thread by the async client, with the same retry rules."""
    source = SyncRotatingSource(delay=0)
    async with make_client("http://api", source, transport=accept_only("tok-1")) as client:
        assert (await client.get("/me")).status_code == 200
    assert source.refreshes == 1


@pytest.mark.anyio
async def test_make_client_passes_options_through() -> None:
    """base_url, timeout and extra httpx options reach the client."""
    async with make_client(
        "http://api/v1", StaticToken("t"), timeout=3.0, headers={"X-App": "a"}, transport=accept_only("t")
    ) as client:
        assert client.base_url == httpx.URL("http://api/v1/")
        assert client.timeout == httpx.Timeout(3.0)
        assert client.headers["X-App"] == "a"


# ----------------------------------------------------------------------------------------------------------
# Integration: a real HTTP server on 127.0.0.1
# ----------------------------------------------------------------------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    token: str | None
    body: bytes


@dataclass
class ApiState:
    """What the live API accepts and what it has seen; shared between the server thread and the tests."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    valid: set[str] = field(default_factory=set)
    hits: list[Hit] = field(default_factory=list)

    def reset(self, *valid: str) -> None:
        with self.lock:
            self.valid = set(valid)
            self.hits = []

    def tokens(self) -> Counter[str | None]:
        with self.lock:
            return Counter(h.token for h in self.hits)


class Api:
    """Pure-ASGI app: 200 for a currently valid bearer token, else a problem+json 401 as clerk-sync sends."""

    def __init__(self, state: ApiState) -> None:
        self.state = state

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        with self.state.lock:
            self.state.hits.append(Hit(scope["method"], scope["path"], token, body))
            ok = token is not None and token in self.state.valid
        if ok:
            status, ctype = 200, b"application/json"
            payload = json.dumps({"ok": True, "body": body.decode()}).encode()
            headers = [(b"content-type", ctype)]
        else:
            status, ctype = 401, b"application/problem+json"
            payload = json.dumps(
                {"type": "about:blank", "title": "Unauthorized", "status": 401, "code": "token-expired"}
            ).encode()
            headers = [(b"content-type", ctype), (b"www-authenticate", b'Bearer error="invalid_token"')]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@dataclass
class LiveApi:
    url: str
    state: ApiState


@pytest.fixture(scope="module")
def live_api() -> Iterator[LiveApi]:
    state = ApiState()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        Api(state),
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
        ws="none",
        http="h11",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def up() -> bool:
        assert thread.is_alive(), "uvicorn stopped while starting"
        return server.started

    wait_for(up, timeout=10, failure=lambda: "uvicorn did not start within 10 s", poll=0.01)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", state)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def api(live_api: LiveApi) -> LiveApi:
    live_api.state.reset("tok-1")  # tok-0 has "expired": every source starts on it
    return live_api


@pytest.mark.anyio
async def test_live_50_concurrent_401s_share_one_refresh(api: LiveApi) -> None:
    """50 requests refused for the stale token: one refresh, each resent once, all succeed."""
    source = AsyncRotatingSource(gate=50, delay=0.1)
    statuses: list[int] = []
    async with make_client(api.url, source) as client:

        async def one(i: int) -> None:
            response = await client.post(f"/items/{i}", json={"i": i})
            statuses.append(response.status_code)
            assert response.json()["body"] == json.dumps({"i": i}, separators=(",", ":"))
            assert len(response.history) == 1  # exactly one earlier 401

        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(one, i)

    assert statuses == [200] * 50
    assert source.refreshes == 1
    assert api.state.tokens() == Counter({"tok-0": 50, "tok-1": 50})


@pytest.mark.anyio
async def test_live_second_401_is_returned_not_retried(api: LiveApi) -> None:
    """If the refreshed token is refused too, the caller gets that 401; the server saw exactly two."""
    api.state.reset()  # nothing is accepted
    source = AsyncRotatingSource(delay=0)
    async with make_client(api.url, source) as client:
        response = await client.get("/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "token-expired"
    assert [h.token for h in api.state.hits] == ["tok-0", "tok-1"]
    assert source.refreshes == 1


@pytest.mark.anyio
async def test_live_streaming_body_is_not_resent(api: LiveApi) -> None:
    """An async-generator body cannot be replayed: 401 returned, token refreshed for the caller's resend."""
    source = AsyncRotatingSource(delay=0)

    async def upload() -> AsyncIterator[bytes]:
        yield b"chunk-1,"
        yield b"chunk-2"

    async with make_client(api.url, source) as client:
        response = await client.post("/upload", content=upload())
        assert response.status_code == 401
        assert [(h.token, h.body) for h in api.state.hits] == [("tok-0", b"chunk-1,chunk-2")]
        again = await client.post("/upload", content=upload())  # the caller's own resend
        assert again.status_code == 200
    assert source.refreshes == 1
    assert [h.token for h in api.state.hits] == ["tok-0", "tok-1"]


@pytest.mark.anyio
async def test_live_refresh_failure_raises(api: LiveApi) -> None:
    """A token source that cannot refresh makes the request fail with TokenRefreshError."""
    source = AsyncRotatingSource(fail=TimeoutError("clerk slow"), delay=0)
    async with make_client(api.url, source) as client:
        with pytest.raises(TokenRefreshError):
            await client.get("/me")
    assert len(api.state.hits) == 1


def test_live_sync_20_threads_share_one_refresh(api: LiveApi) -> None:
    """20 threads refused for the stale token: one refresh, each resent once, all succeed."""
    source = SyncRotatingSource(gate=20, delay=0.1)
    with make_sync_client(api.url, source) as client:

        def one(i: int) -> int:
            response = client.put(f"/items/{i}", content=f"body-{i}".encode())
            assert response.json()["body"] == f"body-{i}"
            assert len(response.history) == 1
            return response.status_code

        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(one, range(20)))
    assert statuses == [200] * 20
    assert source.refreshes == 1
    assert api.state.tokens() == Counter({"tok-0": 20, "tok-1": 20})


def test_live_sync_second_401_and_streaming_body(api: LiveApi) -> None:
    """The blocking client applies the same rules: one resend at most, none for a generator body."""
    source = SyncRotatingSource(delay=0)

    def upload() -> Iterator[bytes]:
        yield b"a"
        yield b"b"

    with make_sync_client(api.url, source) as client:
        streamed = client.post("/upload", content=upload())
        assert streamed.status_code == 401
        assert [h.token for h in api.state.hits] == ["tok-0"]

        api.state.reset()  # from now on nothing is accepted
        refused = client.get("/me")
        assert refused.status_code == 401
        assert [h.token for h in api.state.hits] == ["tok-1", "tok-2"]
    assert source.refreshes == 2


def test_live_sync_refresh_failure_raises(api: LiveApi) -> None:
    """The blocking client raises TokenRefreshError too, chained to the source's error."""
    source = SyncRotatingSource(fail=ConnectionError("down"), delay=0)
    with make_sync_client(api.url, source) as client, pytest.raises(TokenRefreshError) as excinfo:
        client.get("/me")
    assert isinstance(excinfo.value.__cause__, ConnectionError)
