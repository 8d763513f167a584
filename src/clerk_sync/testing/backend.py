"""A fake Clerk Backend API on 127.0.0.1: real HTTP, Clerk's paging and errors, failures on demand.

Tests of the backfill and the first-sight fetch need more than a mocked transport: retries, timeouts and
connection drops only behave truthfully over a socket. The server is the standard library's
``ThreadingHTTPServer`` in a daemon thread (as ``jwks_server`` is), so it serves sync and async tests alike
with no event-loop coupling. It reproduces the parts of Clerk's contract clients depend on: a bare JSON array
from ``GET /v1/users``, newest first unless ``order_by`` says otherwise, ``limit`` capped at 500, ``offset``
or the ``starting_after`` cursor (rejected with 422 the way Clerk rejects misuse), ``created_at_after`` and
``created_at_before`` (strict bounds in milliseconds, as Clerk documents them), 404 ``resource_not_found``
for an unknown user, 401 for a wrong secret key.

For runs that must feel like the real service, ``latency`` delays every answer, and ``on_list`` runs before
each ``GET /v1/users`` is answered: a test can create or delete users between the pages of a running backfill.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import anyio.to_thread

__all__ = ["FakeClerkBackend", "Injection", "RecordedRequest", "make_user_json"]

_MAX_LIMIT = 500


def make_user_json(
    user_id: str | None = None,
    *,
    email: str | None = "user@example.com",
    first_name: str | None = "Example",
    last_name: str | None = "User",
    image_url: str | None = "https://img.clerk.com/example",
    public_metadata: Mapping[str, Any] | None = None,
    private_metadata: Mapping[str, Any] | None = None,
    created_at: int | None = None,
    updated_at: int | None = None,
) -> dict[str, Any]:
    """A Clerk ``User`` object shaped like the API's (ms timestamps, primary email referenced by id)."""
    user_id = user_id or "user_" + secrets.token_hex(12)
    now = int(time.time() * 1000)
    email_id = "idn_" + secrets.token_hex(12)
    addresses = (
        [
            {
                "id": email_id,
                "object": "email_address",
                "email_address": email,
                "linked_to": [],
                "verification": {"status": "verified", "strategy": "email_code"},
            }
        ]
        if email is not None
        else []
    )
    created = created_at if created_at is not None else now
    return {
        "id": user_id,
        "object": "user",
        "username": None,
        "first_name": first_name,
        "last_name": last_name,
        "image_url": image_url,
        "has_image": image_url is not None,
        "primary_email_address_id": email_id if email is not None else None,
        "primary_phone_number_id": None,
        "primary_web3_wallet_id": None,
        "email_addresses": addresses,
        "phone_numbers": [],
        "web3_wallets": [],
        "external_accounts": [],
        "public_metadata": dict(public_metadata or {}),
        "private_metadata": dict(private_metadata or {}),
        "unsafe_metadata": {},
        "external_id": None,
        "banned": False,
        "locked": False,
        "created_at": created,
        "updated_at": updated_at if updated_at is not None else created,
        "last_sign_in_at": None,
        "last_active_at": None,
    }


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake received it (``query`` keeps repeated parameters)."""

    number: int
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Injection:
    """What to do instead of (or before) the normal answer to one request.

    ``status`` answers with that status and a Clerk-style error body (or ``body`` verbatim); ``retry_after``
    adds the header; ``disconnect`` closes the socket without answering; ``delay`` (seconds) waits first,
    then answers normally unless something else is set.
    """

    status: int | None = None
    retry_after: str | None = None
    body: bytes | None = None
    disconnect: bool = False
    delay: float = 0.0


@dataclass
class _State:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    injections: dict[int, Injection] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)


class FakeClerkBackend:
    """Serves ``/v1/users``, ``/v1/users/count``, ``/v1/users/{id}``, ``/v1/jwks`` to ``Bearer <secret_key>``.

    Use it as ``with FakeClerkBackend(users=...) as clerk:`` or ``async with``; point the client at
    ``clerk.url``. ``fail(...)`` schedules a failure for a given request number (1-based, counting every
    request the server received) or for the next request; ``requests`` records what arrived.

    ``latency`` (seconds) delays every answer, like a real network round trip; ``on_list(n)`` is called with
    the 1-based number of each ``GET /v1/users`` before it is answered, on the serving thread.
    """

    def __init__(
        self,
        *,
        secret_key: str | None = None,
        users: Iterable[Mapping[str, Any]] = (),
        jwks: Mapping[str, Any] | None = None,
        latency: float = 0.0,
        on_list: Callable[[int], object] | None = None,
    ) -> None:
        self.secret_key = secret_key or "sk_test_" + secrets.token_urlsafe(24)
        self.jwks: Mapping[str, Any] = jwks if jwks is not None else {"keys": []}
        self.latency = latency
        self.on_list = on_list
        self._lists = 0
        self._lock = threading.Lock()
        self._state = _State()
        for user in users:
            self.add_user(user)
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- data ----------------------------------------------------------------------------------

    def add_user(self, user: Mapping[str, Any]) -> None:
        """Add or replace a user (keyed by ``id``)."""
        with self._lock:
            self._state.users[str(user["id"])] = dict(user)

    def remove_user(self, user_id: str) -> None:
        """Delete a user, as if deleted in Clerk; later lookups answer 404."""
        with self._lock:
            self._state.users.pop(user_id, None)

    @property
    def users(self) -> list[dict[str, Any]]:
        """A snapshot of the stored users, in insertion order."""
        with self._lock:
            return [dict(user) for user in self._state.users.values()]

    # -- failures and observation ---------------------------------------------------------------------------

    def fail(
        self,
        status: int | None = 500,
        *,
        on_request: int | None = None,
        retry_after: float | str | None = None,
        body: bytes | None = None,
        disconnect: bool = False,
        delay: float = 0.0,
    ) -> int:
        """Make request number ``on_request`` (default: the next one) misbehave once; returns that number."""
        with self._lock:
            number = on_request if on_request is not None else len(self._state.requests) + 1
            self._state.injections[number] = Injection(
                status=status,
                retry_after=None if retry_after is None else str(retry_after),
                body=body,
                disconnect=disconnect,
                delay=delay,
            )
        return number

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._state.requests)

    @property
    def request_count(self) -> int:
        """How many requests arrived (including refused and failed ones)."""
        with self._lock:
            return len(self._state.requests)

    # -- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: pass as the Backend API base URL (``CLERK_API_URL``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeClerkBackend:
        """Start serving in a background thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="fake-clerk",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeClerkBackend:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeClerkBackend:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # shutdown() waits for the serving loop to notice; never block the event loop meanwhile.
        await anyio.to_thread.run_sync(self.stop)

    # -- HTTP ----------------------------------------------------------------------------------

    def _record(self, method: str, target: str, headers: Mapping[str, str]) -> tuple[RecordedRequest, Injection | None]:
        parts = urlsplit(target)
        with self._lock:
            request = RecordedRequest(
                number=len(self._state.requests) + 1,
                method=method,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={name.lower(): value for name, value in headers.items()},
            )
            self._state.requests.append(request)
            return request, self._state.injections.pop(request.number, None)

    def _answer(self, request: RecordedRequest) -> tuple[int, Any]:
        if request.headers.get("authorization") != f"Bearer {self.secret_key}":
            return 401, _error(
                "authentication_invalid",
                "Invalid authentication",
                "Unable to authenticate the request, you need to supply an active API key",
            )
        if request.method != "GET":
            return 405, _error("method_not_allowed", "Method not allowed")
        path = request.path.rstrip("/")
        if path == "/v1/jwks":
            return 200, self.jwks
        if path == "/v1/users":
            if self.on_list is not None:
                with self._lock:
                    self._lists += 1
                    number = self._lists
                self.on_list(number)  # outside the lock: the hook adds and removes users
            return self._list_users(request.query)
        if path == "/v1/users/count":
            with self._lock:
                return 200, {"object": "total_count", "total_count": len(self._state.users)}
        if path.startswith("/v1/users/"):
            user_id = unquote(path.removeprefix("/v1/users/"))
            with self._lock:
                user = self._state.users.get(user_id)
            if user is None:
                return 404, _error("resource_not_found", "not found", "Resource not found")
            return 200, user
        return 404, _error("resource_not_found", "not found", "Resource not found")

    def _list_users(self, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        def one(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        try:
            limit, offset = int(one("limit", "10")), int(one("offset", "0"))
            after = int(one("created_at_after", "-1"))
            before = int(one("created_at_before", str(sys.maxsize)))
        except ValueError:
            return 422, _error("form_param_format_invalid", "limit, offset and created_at_* must be integers")
        if not 1 <= limit <= _MAX_LIMIT or offset < 0:
            return 422, _error("form_param_value_invalid", f"limit must be 1..{_MAX_LIMIT}, offset >= 0")
        # An unencoded "+" arrives as a space; Clerk reads both as ascending.
        order = one("order_by", "-created_at").strip()
        descending = order.startswith("-")
        order_field = order.lstrip("+-")
        if order_field not in ("created_at", "updated_at"):
            return 422, _error("form_param_value_invalid", f"order_by {order!r} is not supported by the fake")
        with self._lock:
            users = sorted(
                (u for u in self._state.users.values() if after < (u.get("created_at") or 0) < before),
                key=lambda u: (u.get(order_field) or 0, u["id"]),
                reverse=descending,
            )
        cursor = query.get("starting_after", [None])[0]
        if cursor is not None:
            if order_field != "created_at":
                return 422, _error("form_param_value_invalid", "starting_after requires created_at ordering")
            if offset:
                return 422, _error("form_param_value_invalid", "starting_after cannot be combined with offset")
            index = next((i for i, user in enumerate(users) if user["id"] == cursor), None)
            if index is None:
                return 422, _error("form_param_value_invalid", "starting_after does not name a user")
            offset = index + 1
        return 200, users[offset : offset + limit]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def _handle(self) -> None:
                request, injection = fake._record(self.command, self.path, dict(self.headers.items()))
                if fake.latency:
                    time.sleep(fake.latency)
                if injection is not None and injection.delay:
                    time.sleep(injection.delay)
                if injection is not None and injection.disconnect:
                    self.close_connection = True
                    return
                if injection is not None and (injection.status is not None or injection.body is not None):
                    status = injection.status if injection.status is not None else 200
                    raw = injection.body
                    if raw is None:
                        raw = json.dumps(_error("injected_failure", f"injected {status}")).encode()
                    self._send(status, raw, retry_after=injection.retry_after)
                    return
                status, document = fake._answer(request)
                self._send(status, json.dumps(document).encode())

            def _send(self, status: int, data: bytes, *, retry_after: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """Tests that time out on purpose leave the fake writing to a closed socket; that is not news."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _error(code: str, message: str, long_message: str | None = None) -> dict[str, Any]:
    """Clerk's error envelope (``ClerkErrors``)."""
    return {
        "errors": [{"code": code, "message": message, "long_message": long_message or message, "meta": {}}],
        "clerk_trace_id": secrets.token_hex(16),
    }
