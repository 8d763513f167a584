"""The webhook, health and readiness views (the same answers as the FastAPI routes), and problem+json
``handler404``/``handler500`` for projects that answer every error in that format.

``webhook`` is CSRF-exempt (Svix signs the body; there is no browser session), refuses a declared
``Content-Length`` over the receiver's cap before reading, then reads at most cap + 1 bytes, so an undeclared
(chunked) oversized body is refused without being held in memory. It answers 2xx applied / duplicate /
ignored, 400 refused, 413 too large, 503 when no secret is configured or the database failed (Svix retries).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from clerk_sync.django.responses import error_response, problem_response
from clerk_sync.django.runtime import get_core
from clerk_sync.errors import ClerkSyncError, PayloadTooLargeError
from clerk_sync.problems import http_problem, internal_error
from clerk_sync.receiver import check_declared_length

__all__ = ["healthz", "page_not_found", "readyz", "server_error", "webhook"]


@csrf_exempt
@require_POST
def webhook(request: HttpRequest) -> HttpResponseBase:
    """``POST``: one Svix delivery, verified as raw bytes and applied exactly once."""
    try:
        core = get_core()
        cap = core.webhooks.max_body_bytes
        check_declared_length(request.META.get("CONTENT_LENGTH"), cap)
        body = request.read(cap + 1)
        if len(body) > cap:
            raise PayloadTooLargeError(f"Webhook bodies are limited to {cap} bytes.")
        result = core.receive_webhook(body, request.headers)
    except ClerkSyncError as exc:
        return error_response(request, exc)
    return JsonResponse(result.as_json())


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
