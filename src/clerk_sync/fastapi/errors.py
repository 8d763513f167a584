"""The only place where clerk-sync errors become HTTP: RFC 9457 problem documents with a stable ``code``.

401s carry ``WWW-Authenticate: Bearer`` (RFC 6750: ``error="invalid_token"`` only when a token was sent);
our own failures are 503 with ``Retry-After`` so clients retry instead of signing the user out; anything
unexpected is a 500 problem document without a trace (the trace goes to the server log).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from clerk_sync.errors import (
    AuthenticationError,
    BackendAPIError,
    ClerkSyncError,
    PayloadTooLargeError,
    TokenMissingError,
    TokenRefreshError,
    UnavailableError,
    WebhookError,
)

__all__ = ["PROBLEM_JSON", "install_exception_handlers", "problem_response", "status_for"]

logger = logging.getLogger("clerk_sync.http")

PROBLEM_JSON = "application/problem+json"

_STATUS: tuple[tuple[type[ClerkSyncError], int], ...] = (
    (AuthenticationError, 401),
    (UnavailableError, 503),
    (WebhookError, 400),
    (PayloadTooLargeError, 413),
    (BackendAPIError, 502),
    (TokenRefreshError, 502),
    (ClerkSyncError, 500),
)


def status_for(exc: ClerkSyncError) -> int:
    """The HTTP status for an error, by the first matching class in its MRO order of the table."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500  # pragma: no cover - ClerkSyncError closes the table


def problem_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem document; ``code`` is the field clients branch on."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail, "code": code}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


async def _clerk_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ClerkSyncError)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = (
            'Bearer realm="clerk-sync"'
            if isinstance(exc, TokenMissingError)
            else f'Bearer realm="clerk-sync", error="invalid_token", error_description="{exc.code}"'
        )
    if isinstance(exc, UnavailableError):
        headers["Retry-After"] = str(exc.retry_after)
    log = logger.warning if status >= 500 else logger.info
    log("%s %s -> %d %s", request.method, request.url.path, status, exc.code)
    return problem_response(status, exc.code, exc.message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return problem_response(422, "request-invalid", "The request does not match the endpoint's schema.")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "internal-error", "An unexpected error occurred.")


def install_exception_handlers(app: FastAPI) -> None:
    """Render every ``ClerkSyncError`` (Starlette resolves subclasses by MRO) and hide unexpected traces."""
    app.add_exception_handler(ClerkSyncError, _clerk_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
