"""``ClerkSyncMiddleware``: the verified claims and the lazily synced user on every request (WSGI and ASGI).

Add ``"clerk_sync.django.middleware.ClerkSyncMiddleware"`` to ``MIDDLEWARE`` (after Django's
``AuthenticationMiddleware`` when both are listed). Each request then has:

- ``request.clerk_claims``: the verified ``SessionClaims``, or None when no token was sent. A bearer token that
  is sent must verify: one that does not is refused here with its 401 problem document, on every route, so an
  unverified token never reaches a view (fail closed; DRF does the same with bad credentials). A ``__session``
  cookie is judged as Clerk's ``authenticateRequest`` does: one that does not authenticate (expired while the tab
  slept, signed out, a stale ``__client_uat``) makes the request signed out, not refused, because the browser
  attaches it to every request, public pages included. ``request.clerk_refusal`` keeps why, and the views that
  need a user (``clerk_required``, ``ClerkRequiredMixin``, DRF's ``IsAuthenticated``) answer with that reason's
  401 instead of ``session-token-missing``, so the client still learns to refresh;
- ``request.clerk_user``: the synced row (None without a token), lazy like Django's ``request.user``: a route
  that never reads it costs no query, and one that reads it twice syncs once. Async views ``await
  request.aclerk_user()`` instead (the ORM refuses blocking queries on the event loop);
- ``request.user`` (and ``request.auser``): that row when the synced model is ``AUTH_USER_MODEL``, so
  ``login_required``, permissions and the admin's relations work without a session or a login: stateless.

A ``ClerkSyncError`` raised while the view resolves the user (a deleted user, the database down) is answered as
its problem document by ``process_exception``.

``ProblemDetailsMiddleware`` is the reference service's "every error is problem+json" mode (FastAPI's
``all_errors=True``): a view's ``Http404`` and ``PermissionDenied``, a 405 from ``require_http_methods``, and a
crash (logged once, the request's credentials redacted) answer problem+json too.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.apps import apps
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase, HttpResponseNotAllowed
from django.utils.functional import SimpleLazyObject

from clerk_sync.claims import SessionClaims
from clerk_sync.django.conf import user_model_label
from clerk_sync.django.responses import error_response, problem_response
from clerk_sync.django.runtime import aget_core, get_core
from clerk_sync.errors import ClerkSyncError
from clerk_sync.problems import http_problem, internal_error
from clerk_sync.redact import redact, request_secrets

__all__ = [
    "ClerkSyncMiddleware",
    "ProblemDetailsMiddleware",
    "RequestUser",
    "aauthenticate",
    "authenticate",
    "log_crash",
]

logger = logging.getLogger("clerk_sync.http")

_Handler = Callable[[HttpRequest], HttpResponseBase]
_AsyncHandler = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class RequestUser:
    """One request's user: synced on first use, sync or async, and then kept (one sync per request)."""

    __slots__ = ("_resolved", "_user", "as_auth_user", "claims")

    def __init__(self, claims: SessionClaims, *, as_auth_user: bool = False) -> None:
        self.claims = claims
        self.as_auth_user = as_auth_user
        self._resolved = False
        self._user: Any = None

    def get(self) -> Any:
        """The synced row, through the process's ``SyncClerkCore``."""
        if not self._resolved:
            self._user = get_core().current_user(self.claims)
            self._resolved = True
        return self._user

    async def aget(self) -> Any:
        """The synced row, through the loop's ``ClerkCore``."""
        if not self._resolved:
            self._user = await (await aget_core()).current_user(self.claims)
            self._resolved = True
        return self._user

    def pin(self, request: HttpRequest, user: Any) -> None:
        """Put the resolved row itself on the request in place of the lazy proxies: every attribute read through
        a ``SimpleLazyObject`` is a proxy call (a dozen per serialised user), and a view guarded by
        ``clerk_required`` reads the row right after the guard resolved it. Proxies handed out before keep
        working: they resolve to the same row."""
        request.clerk_user = user  # type: ignore[attr-defined]
        if self.as_auth_user:
            request.user = user


async def _no_user() -> None:
    return None


def _synced_model_is_auth_user() -> bool:
    if not apps.is_installed("django.contrib.auth"):
        return False
    return str(settings.AUTH_USER_MODEL).lower() == user_model_label().lower()


def _attach(request: HttpRequest, claims: SessionClaims | None, refusal: ClerkSyncError | None = None) -> None:
    request.clerk_claims = claims  # type: ignore[attr-defined]
    request.clerk_refusal = refusal  # type: ignore[attr-defined]
    if claims is None:
        request.clerk_user = None  # type: ignore[attr-defined]
        request.aclerk_user = _no_user  # type: ignore[attr-defined]
        if _synced_model_is_auth_user() and not hasattr(request, "user"):
            from django.contrib.auth.models import AnonymousUser

            request.user = AnonymousUser()

            async def anonymous() -> AnonymousUser:
                return AnonymousUser()

            request.auser = anonymous
        return
    user = RequestUser(claims, as_auth_user=_synced_model_is_auth_user())
    request._clerk_sync_user = user  # type: ignore[attr-defined]  # the decorators resolve through it
    request.clerk_user = SimpleLazyObject(user.get)  # type: ignore[attr-defined]
    request.aclerk_user = user.aget  # type: ignore[attr-defined]
    if user.as_auth_user:
        request.user = SimpleLazyObject(user.get)  # type: ignore[assignment]
        request.auser = user.aget


def _credentials(request: HttpRequest) -> tuple[str | None, dict[str, str]]:
    # META, not request.headers: the latter builds a mapping of every header on first use, for this one value.
    meta = request.META
    return meta.get("HTTP_AUTHORIZATION"), request.COOKIES if "HTTP_COOKIE" in meta else {}


def _cookie_refusal(authorization: str | None, exc: ClerkSyncError) -> ClerkSyncError:
    """Clerk's rule for a token that did not authenticate: a bearer token is refused (raised again), a
    ``__session`` cookie signs the request out, with ``exc`` kept as the reason."""
    if authorization is not None:
        raise exc
    return exc


def authenticate(request: HttpRequest) -> tuple[SessionClaims | None, ClerkSyncError | None]:
    """The request's verified claims and, for a cookie that did not authenticate, why; raises the
    ``ClerkSyncError`` of a refused bearer token. The one place the middleware and DRF judge a request."""
    authorization, cookies = _credentials(request)
    try:
        return get_core().authenticate(authorization, cookies), None
    except ClerkSyncError as exc:
        return None, _cookie_refusal(authorization, exc)


async def aauthenticate(request: HttpRequest) -> tuple[SessionClaims | None, ClerkSyncError | None]:
    """``authenticate`` for ASGI requests, through the loop's ``ClerkCore``."""
    authorization, cookies = _credentials(request)
    try:
        return await (await aget_core()).authenticate(authorization, cookies), None
    except ClerkSyncError as exc:
        return None, _cookie_refusal(authorization, exc)


class ClerkSyncMiddleware:
    """Verifies the request's token (header or ``__session`` cookie) and attaches claims and the lazy user."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: _Handler | _AsyncHandler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        try:
            claims, refusal = authenticate(request)
        except ClerkSyncError as exc:
            return error_response(request, exc)
        _attach(request, claims, refusal)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            claims, refusal = await aauthenticate(request)
        except ClerkSyncError as exc:
            return error_response(request, exc)
        _attach(request, claims, refusal)
        response: HttpResponseBase = await self.get_response(request)  # type: ignore[misc]
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        """A ``ClerkSyncError`` from the view (resolving the user) as its problem document."""
        if isinstance(exception, ClerkSyncError):
            return error_response(request, exception)
        return None


class ProblemDetailsMiddleware:
    """Every refusal and crash as problem+json, for an API that speaks one error format (the reference service).

    List it first in ``MIDDLEWARE``, and set ``handler404``/``handler500`` to ``clerk_sync.django.views``'s
    ``page_not_found``/``server_error`` for the 404s no view sees (no route matched).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: _Handler | _AsyncHandler) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self.process_response(request, self.get_response(request))  # type: ignore[arg-type]

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = await self.get_response(request)  # type: ignore[misc]
        return self.process_response(request, response)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        """``require_http_methods``' 405 as a problem document, its ``Allow`` header kept."""
        if isinstance(response, HttpResponseNotAllowed):
            return problem_response(http_problem(405, headers={"Allow": response["Allow"]}))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        """A view's ``Http404``/``PermissionDenied`` and any crash; clerk-sync's own errors included."""
        if isinstance(exception, ClerkSyncError):
            return error_response(request, exception)
        if isinstance(exception, Http404):
            return problem_response(http_problem(404))
        if isinstance(exception, PermissionDenied):
            return problem_response(http_problem(403))
        log_crash(request, exception)
        return problem_response(internal_error())


def log_crash(request: HttpRequest, exception: BaseException) -> None:
    """One error record for a crash: method, path and the traceback with the request's credentials redacted."""
    secrets = request_secrets(request.headers.get("Authorization"), request.headers.get("Cookie"))
    text = redact("".join(traceback.format_exception(exception)), secrets)
    logger.error("unhandled error on %s %s\n%s", request.method, request.path, text.rstrip())
