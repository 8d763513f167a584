"""The webhook, health and readiness views (the same answers as the FastAPI routes), and problem+json
``handler404``/``handler500`` for projects that answer every error in that format.

``webhook`` is CSRF-exempt (Svix signs the body; there is no browser session), refuses a declared
``Content-Length`` over the receiver's cap before reading, then reads at most cap + 1 bytes, so an undeclared
(chunked) oversized body is refused without being held in memory. It answers 2xx applied / duplicate /
ignored, 400 refused, 413 too large, 503 when no secret is configured or the database failed (Svix retries).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clerk_sync.django.responses import error_response, problem_response
from clerk_sync.django.runtime import get_core
from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import http_problem, internal_error
from clerk_sync.receiver import read_capped_sync

__all__ = ["healthz", "page_not_found", "readyz", "server_error", "webhook"]


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponseBase:
    """``POST``: one Svix delivery, verified as raw bytes and applied exactly once."""
    try:
        core = get_core()
        declared = request.META.get("CONTENT_LENGTH") or None
        body = read_capped_sync(_stream(request, declared).read, declared, core.webhooks.max_body_bytes)
        result = core.receive_webhook(body, request.headers)
    except ClerkSyncError as exc:
        return error_response(request, exc)
    return JsonResponse(result.as_json())


def _stream(request: HttpRequest, declared: str | None) -> Any:
    """Django's WSGI request reads only a declared ``Content-Length`` (a chunked body would arrive empty and fail
    its signature); when the server ends the input itself (``wsgi.input_terminated``, as gunicorn does), read that."""
    if declared is None and request.META.get("wsgi.input_terminated"):
        return request.META["wsgi.input"]
    return request


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers (no database, no keys)."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: database, signing keys and webhook secret, each named; 503 when one is not ``ok``."""
    readiness = get_core().readiness()
    return JsonResponse(readiness.as_json(), status=readiness.status_code)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponseBase:
    """``handler404``: no route matched, as problem+json ``not-found``."""
    return problem_response(http_problem(404))


def server_error(request: HttpRequest) -> HttpResponseBase:
    """``handler500``: a crash no middleware answered (one of the middleware's own), as problem+json."""
    return problem_response(internal_error())
