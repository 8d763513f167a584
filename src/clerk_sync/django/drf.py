"""Django REST framework: ``ClerkAuthentication`` and a problem+json ``exception_handler``.

::

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["clerk_sync.django.drf.ClerkAuthentication"],
        "EXCEPTION_HANDLER": "clerk_sync.django.drf.exception_handler",
    }

``request.user`` is the synced row and ``request.auth`` the verified ``SessionClaims``. Without a token the
class returns None (anonymous; ``IsAuthenticated`` then answers 401 with the ``Bearer`` challenge from
``authenticate_header``). A bearer token that does not verify is refused; a ``__session`` cookie that does not
authenticate is anonymous (as with ``ClerkSyncMiddleware``) and ``IsAuthenticated`` answers with its reason.
DRF is optional: only this module imports it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from clerk_sync.claims import SessionClaims
from clerk_sync.django.middleware import authenticate
from clerk_sync.django.responses import error_response, problem_response
from clerk_sync.django.runtime import get_core
from clerk_sync.errors import ClerkSyncError, TokenMissingError
from clerk_sync.problems import Problem, problem, problem_for

__all__ = ["ClerkAuthentication", "exception_handler"]

_MISSING = "No session token in the Authorization header or the __session cookie."

#: What ``problem_for`` puts in a 401 without a token (RFC 6750: no error attribute).
_CHALLENGE = problem_for(TokenMissingError()).headers["WWW-Authenticate"]


class ClerkAuthentication(BaseAuthentication):  # type: ignore[misc]
    """``(user, claims)`` for a verified token; None without one; a token that does not verify is refused."""

    def authenticate(self, request: Request) -> tuple[Any, SessionClaims] | None:
        django_request: HttpRequest = request._request
        resolver = getattr(django_request, "_clerk_sync_user", None)
        if hasattr(django_request, "clerk_claims"):  # ClerkSyncMiddleware verified it already
            claims: SessionClaims | None = django_request.clerk_claims
        else:
            claims = _authenticate(django_request)
        if claims is None:
            return None
        user = resolver.get() if resolver is not None else get_core().current_user(claims)
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        """The ``WWW-Authenticate`` challenge of DRF's 401s."""
        return _CHALLENGE


def _authenticate(request: HttpRequest) -> SessionClaims | None:
    """Without the middleware: its rule, a refused cookie signs the request out and is kept as the reason."""
    claims, refusal = authenticate(request)
    if refusal is not None:
        request.clerk_refusal = refusal  # type: ignore[attr-defined]
    return claims


def _drf_problem(exc: exceptions.APIException, response: Response) -> Problem:
    """DRF's own refusals (not authenticated, permission denied, throttled...) in the same format."""
    headers = {name: value for name, value in response.items() if name in ("WWW-Authenticate", "Retry-After", "Allow")}
    if isinstance(exc, exceptions.NotAuthenticated):
        missing = problem_for(
            TokenMissingError("No session token in the Authorization header or the __session cookie.")
        )
        return problem(missing.status, missing.code, missing.detail, {**headers, **missing.headers})
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
    return problem(response.status_code, str(exc.default_code).replace("_", "-"), detail, headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: clerk-sync's errors with the codes, statuses and headers of every
    other adapter; DRF's own refusals as problem+json too; anything else to DRF's default (and then Django)."""
    request = context.get("request")
    django_request: HttpRequest | None = getattr(request, "_request", None)
    if isinstance(exc, ClerkSyncError) and django_request is not None:
        return error_response(django_request, exc)
    refusal = getattr(django_request, "clerk_refusal", None)
    if isinstance(exc, exceptions.NotAuthenticated) and refusal is not None and django_request is not None:
        return error_response(django_request, refusal)  # a signed-out cookie: say why, as clerk_required does
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        return response  # field errors keep DRF's shape: clients of a DRF API already parse it
    return problem_response(_drf_problem(exc, response))
