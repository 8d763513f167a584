"""FastAPI's rendering of ``clerk_sync.problems``: every refusal as an RFC 9457 problem document.

The statuses, headers and bodies are decided in ``clerk_sync.problems`` (framework-neutral); this module only
turns a ``Problem`` into a ``JSONResponse`` and hooks it into FastAPI.

``install_exception_handlers(app)`` leaves the host app as it was, apart from clerk-sync's own errors: its 404s,
validation errors and crashes keep whatever the app (or FastAPI) does with them. ``all_errors=True`` takes those
over too, as the reference service does: every refusal becomes a problem document (404, 405 with ``Allow``,
400 for a body that is not JSON, 422 for one that does not match the schema) and an unexpected exception
becomes a problem+json 500, logged once, on a connection that stays open.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.types import Scope

from clerk_sync.asgi import CatchAllErrors
from clerk_sync.errors import ClerkSyncError
from clerk_sync.fastapi.openapi import use_problem_validation_errors
from clerk_sync.problems import (
    PROBLEM_JSON,
    Problem,
    body_invalid,
    http_problem,
    internal_error,
    problem,
    problem_for,
    request_invalid,
    status_for,
)

__all__ = ["PROBLEM_JSON", "install_exception_handlers", "problem_response", "render", "status_for"]

logger = logging.getLogger("clerk_sync.http")

#: FastAPI's ``HTTPException`` detail when a body could not be decoded at all (``fastapi.routing``: not UTF-8,
#: a broken form); a JSON syntax error arrives as a ``RequestValidationError`` of type ``json_invalid`` instead.
_FASTAPI_BODY_ERROR = "There was an error parsing the body"


def render(found: Problem) -> JSONResponse:
    """A ``Problem`` as FastAPI's response."""
    return JSONResponse(
        found.body(), status_code=found.status, headers=dict(found.headers), media_type=found.content_type
    )


def problem_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    """A problem document; ``code`` is the field clients branch on. ``extensions`` are extra members (RFC 9457
    section 3.2), such as the ``errors`` list of a 422."""
    return render(problem(status, code, detail, headers, **extensions))


async def _clerk_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClerkSyncError)
    found = problem_for(exc)
    log = logger.warning if found.status >= 500 else logger.info
    log("%s %s -> %d %s", request.method, request.url.path, found.status, found.code)
    return render(found)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's and FastAPI's own refusals (no route, wrong method, undecodable body) as problem documents;
    headers such as ``Allow`` on a 405 are kept."""
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status in (204, 304):  # no body allowed; Starlette's own handler makes the same exception
        return Response(status_code=status, headers=exc.headers)
    if status == 400 and exc.detail == _FASTAPI_BODY_ERROR:
        return render(body_invalid())
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail else None
    return render(http_problem(status, detail, exc.headers))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A body that is not JSON at all is a 400 (nothing to validate); one that parses but does not match the
    endpoint's schema is a 422 listing where and why, never echoing the input back."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return render(body_invalid("The request body is not valid JSON."))
    return render(request_invalid(errors))


async def _outer_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's ``ServerErrorMiddleware`` calls this for an exception raised outside the catch-all (in one of
    the app's own middleware). It re-raises afterwards and the server logs that, so logging here would log twice."""
    return render(internal_error())


def _debug(scope: Scope) -> bool:
    return bool(getattr(scope.get("app"), "debug", False))


def install_exception_handlers(app: FastAPI, *, all_errors: bool = False) -> None:
    """Render every ``ClerkSyncError`` as problem+json (Starlette resolves subclasses by MRO).

    ``all_errors=True`` also takes over the app's own refusals and crashes, and rewrites FastAPI's generated 422
    responses in the OpenAPI document to match; call it before the app serves its first request.
    """
    app.add_exception_handler(ClerkSyncError, _clerk_error)
    if not all_errors:
        return
    if app.middleware_stack is not None:
        raise RuntimeError("install_exception_handlers(all_errors=True) must run before the app starts")
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _outer_error)
    # Appended, not ``add_middleware`` (which prepends): the catch-all sits inside every middleware the app adds,
    # before or after this call, so a route's crash reaches them as a finished 500, not as an exception.
    app.user_middleware.append(Middleware(CatchAllErrors, reraise=_debug))
    use_problem_validation_errors(app)
