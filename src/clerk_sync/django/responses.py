"""Django's rendering of ``clerk_sync.problems``: a ``Problem`` as a ``JsonResponse``, nothing decided here."""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse

from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import Problem, problem_for

__all__ = ["error_response", "problem_response"]

logger = logging.getLogger("clerk_sync.http")


def problem_response(found: Problem) -> JsonResponse:
    """The problem+json response: status, headers (``WWW-Authenticate``, ``Retry-After``, ``Allow``) and body."""
    response = JsonResponse(found.body(), status=found.status, content_type=found.content_type)
    for name, value in found.headers.items():
        response[name] = value
    # Django logs every 4xx/5xx response it did not log itself; the line below says this one is accounted for
    # (clerk-sync logs its refusals here, without headers or body, and a crash once, redacted).
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def error_response(request: HttpRequest, exc: ClerkSyncError) -> JsonResponse:
    """A ``ClerkSyncError`` as its problem document, logged as the FastAPI adapter logs it (method, path, code)."""
    found = problem_for(exc)
    log = logger.warning if found.status >= 500 else logger.info
    log("%s %s -> %d %s", request.method, request.path, found.status, found.code)
    return problem_response(found)
