"""Flask's rendering of ``clerk_sync.problems``: every refusal as an RFC 9457 problem document.

Statuses, headers and bodies are decided in ``clerk_sync.problems``; this module turns a ``Problem`` into a
Flask response and registers the handlers. ``ClerkSync`` always registers the one for ``ClerkSyncError`` (an
API answers 401 with ``WWW-Authenticate``, never a redirect to a login page). ``all_errors=True`` also takes over
werkzeug's refusals (404, 405 with ``Allow``, 400 for a body that does not decode) and crashes: one log record per
crash (method and path, the request's credentials redacted from the traceback) and a problem+json 500.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import Problem, body_invalid, http_problem, internal_error, problem, problem_for
from clerk_sync.redact import redact, request_secrets

__all__ = ["install_error_handlers", "problem_response", "render"]

logger = logging.getLogger("clerk_sync.http")


def render(found: Problem) -> Response:
    """A ``Problem`` as a Flask response (the JSON text FastAPI's adapter sends: compact, UTF-8)."""
    text = json.dumps(found.body(), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return current_app.response_class(
        text, status=found.status, headers=dict(found.headers), mimetype=found.content_type
    )


def problem_response(
    status: int, code: str, detail: str, headers: Mapping[str, str] | None = None, **extensions: Any
) -> Response:
    """An app's own problem document, e.g. ``problem_response(404, "order-not-found", "No such order.")``."""
    return render(problem(status, code, detail, headers, **extensions))


def _clerk_error(exc: ClerkSyncError) -> Response:
    found = problem_for(exc)
    log = logger.warning if found.status >= 500 else logger.info
    log("%s %s -> %d %s", request.method, request.path, found.status, found.code)
    return render(found)


def _http_error(exc: HTTPException) -> Response | HTTPException:
    """werkzeug's refusals as problem documents; its headers (``Allow`` on a 405) are kept. Redirects and answers
    an app built itself (``abort(response)``) pass through."""
    status = exc.code or 500
    if exc.response is not None or status < 400:
        return exc
    if status == 400:
        return render(body_invalid())
    headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
    return render(http_problem(status, exc.description, headers))


def _unexpected(exc: Exception) -> Response | HTTPException:
    """A crash: logged once, without the request's credentials; the client gets a problem+json 500."""
    if isinstance(exc, HTTPException):  # reached only when an app registered its own HTTPException handling
        return _http_error(exc)
    if current_app.debug:  # debug mode wants werkzeug's debugger
        raise exc
    secrets = request_secrets(request.headers.get("Authorization"), "; ".join(request.headers.getlist("Cookie")))
    text = redact("".join(traceback.format_exception(exc)), secrets)
    logger.error("unhandled error on %s %s\n%s", request.method, request.path, text.rstrip())
    return render(internal_error())


def install_error_handlers(app: Flask, *, all_errors: bool = False) -> None:
    """Render every ``ClerkSyncError`` as problem+json (Flask resolves subclasses by MRO); ``all_errors=True``
    also the app's HTTP refusals and crashes."""
    app.register_error_handler(ClerkSyncError, _clerk_error)
    if all_errors:
        app.register_error_handler(HTTPException, _http_error)
        app.register_error_handler(Exception, _unexpected)
