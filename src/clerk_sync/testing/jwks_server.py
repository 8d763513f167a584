"""A real HTTP JWKS endpoint on 127.0.0.1 for tests: serves an issuer's keys and can be told to fail.

It runs the stdlib ``ThreadingHTTPServer`` in a daemon thread, so async tests reach it over a real socket
exactly as the verifier reaches Clerk, with no event-loop coupling and no third-party server.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from clerk_sync.issuer import TokenIssuer

__all__ = ["JwksServer"]


class JwksServer:
    """Serves ``issuer.jwks()`` at ``/.well-known/jwks.json`` and ``/v1/jwks``; counts requests.

    Set ``status`` to make it answer with an error (e.g. 500), ``body`` to serve raw bytes instead of the keys,
    and ``delay`` (seconds) to slow it down; ``requests`` counts what it received.
    """

    def __init__(self, issuer: TokenIssuer, *, require_bearer: str | None = None) -> None:
        self.issuer = issuer
        self.require_bearer = require_bearer
        self.status = 200
        self.body: bytes | None = None
        self.delay = 0.0
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="jwks-server", daemon=True
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def url(self) -> str:
        """The Frontend-API-style JWKS URL."""
        return f"{self.base_url}/.well-known/jwks.json"

    def start(self) -> JwksServer:
        """Start serving in the background."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> JwksServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                if server.delay:
                    threading.Event().wait(server.delay)
                if self.path not in ("/.well-known/jwks.json", "/v1/jwks"):
                    self._send(404, {"errors": [{"code": "resource_not_found"}]})
                elif server.require_bearer and self.headers.get("Authorization") != f"Bearer {server.require_bearer}":
                    self._send(401, {"errors": [{"code": "clerk_key_invalid"}]})
                elif server.status != 200:
                    self._send(server.status, {"errors": [{"code": "internal_error"}]})
                else:
                    self._send(200, server.issuer.jwks(), raw=server.body)

            def _send(self, status: int, document: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep test output clean."""

        return Handler
