"""Litestar's rendering of ``clerk_sync.problems``: every refusal as an RFC 9457 problem document.

Statuses, headers and bodies are decided in ``clerk_sync.problems``; this module turns a ``Problem`` into a
Litestar ``Response``. ``CLERK_EXCEPTION_HANDLERS`` covers clerk-sync's own errors (what the plugin installs);
``ALL_EXCEPTION_HANDLERS`` adds Litestar's refusals (404, 405 with ``Allow``, 400 ...) and a catch-all 500 that
logs the crash once, with the request's credentials redacted (``ClerkSyncPlugin(all_errors=True)``).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import Problem, body_invalid, http_problem, internal_error, problem_for
from clerk_sync.redact import redact, request_secrets

__all__ = ["ALL_EXCEPTION_HANDLERS", "CLERK_EXCEPTION_HANDLERS", "render"]

logger = logging.getLogger("clerk_sync.http")

AnyRequest = Request[Any, Any, Any]


def render(found: Problem) -> Response[Any]:
    """A ``Problem`` as Litestar's response."""
    return Response(found.body(), status_code=found.status, headers=dict(found.headers), media_type=found.content_type)


def _clerk_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    assert isinstance(exc, ClerkSyncError)
    found = problem_for(exc)
    log = logger.warning if found.status >= 500 else logger.info
    log("%s %s -> %d %s", request.method, request.url.path, found.status, found.code)
    return render(found)


def _http_error(request: AnyRequest, exc: Exception) -> Response[Any]:
    """Litestar's own refusals (no route, wrong method, a body that does not parse); ``Allow`` is kept."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ValidationException):
        return render(body_invalid())
    if exc.status_code >= 500:
        return _crash(request, exc)
    detail = exc.detail if exc.detail and exc.detail != _phrase(exc) else None
    return render(http_problem(exc.status_code, detail, exc.headers))


def _phrase(exc: HTTPException) -> str:
    return type(exc).__dict__.get("detail", "") or ""


def _crash(request: AnyRequest, exc: Exception) -> Response[Any]:
    """One log record for an unexpected exception (method and path, the traceback with the request's token and
    cookies redacted), and a 500 that says nothing of it."""
    secrets = request_secrets(request.headers.get("authorization"), request.headers.get("cookie"))
    text = redact("".join(traceback.format_exception(exc)), secrets)
    logger.error("unhandled error on %s %s\n%s", request.method, request.url.path, text.rstrip())
    return render(internal_error())


CLERK_EXCEPTION_HANDLERS: ExceptionHandlersMap = {ClerkSyncError: _clerk_error}
"""clerk-sync's errors as problem+json (Litestar picks the handler by the exception's MRO)."""

ALL_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    **CLERK_EXCEPTION_HANDLERS,
    HTTPException: _http_error,
    Exception: _crash,
}
"""Every refusal as problem+json, and a crash as a problem+json 500 logged once."""
