"""Plain ASGI pieces every ASGI adapter (FastAPI, Starlette, Litestar) shares; no framework imported.

``CatchAllErrors`` answers what no handler took. Starlette's ``ServerErrorMiddleware`` sends its 500 and then
re-raises (so servers can log): uvicorn logs the traceback a second time and, the response having started,
closes the keep-alive connection. Here the exception ends: one log record (method and path; never headers, query
or body, and the request's own token redacted from the traceback text), a problem+json 500, and the connection
stays usable. When the response had already started there is nothing valid left to send; returning lets the
server close that connection.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from clerk_sync.problems import Problem, internal_error
from clerk_sync.redact import redact, request_secrets

__all__ = ["ASGIApp", "CatchAllErrors", "send_problem"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("clerk_sync.http")


async def send_problem(send: Send, problem: Problem) -> None:
    """Answer ``problem`` on a raw ASGI connection."""
    body = json.dumps(problem.body()).encode()
    headers = [(b"content-type", problem.content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _secrets(scope: Scope) -> list[str]:
    found: list[str] = []
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name in ("authorization", "cookie"):  # each header line on its own: HTTP/2 may split cookies
            value = raw_value.decode("latin-1")
            found += request_secrets(value, None) if name == "authorization" else request_secrets(None, value)
    return found


class CatchAllErrors:
    """Innermost among an app's middleware: an unexpected exception becomes a logged, redacted problem+json 500.

    ``reraise(scope)`` returning True hands the exception on instead (a framework's debug mode wants its own
    traceback page).
    """

    def __init__(self, app: ASGIApp, *, reraise: Callable[[Scope], bool] = lambda scope: False) -> None:
        self.app = app
        self._reraise = reraise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        send_failed = False

        async def tracking(message: Message) -> None:
            nonlocal started, send_failed
            if message["type"] == "http.response.start":
                started = True
            try:
                await send(message)
            except BaseException:
                send_failed = True
                raise

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            # What ``send`` raised belongs to the layers outside (a server's disconnect, a body limiter's signal
            # that it answered already): theirs to handle.
            if send_failed or self._reraise(scope):
                raise
            text = redact("".join(traceback.format_exception(exc)), _secrets(scope))
            logger.error("unhandled error on %s %s\n%s", scope.get("method"), scope.get("path"), text.rstrip())
            if not started:
                await send_problem(send, internal_error())
