"""Views that need a user: ``clerk_required`` / ``clerk_optional`` for functions, ``ClerkRequiredMixin`` for
class-based views. An API answers 401 problem+json with a ``WWW-Authenticate: Bearer`` challenge, never a
redirect to a login page (``login_required`` is for browser sessions).

Both resolve the user before the view runs, so a deleted user or an unavailable database is answered here, as
its problem document, and the view reads ``request.clerk_user`` (sync) or ``await request.aclerk_user()``
(async) without surprises. They need ``ClerkSyncMiddleware``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from clerk_sync.django.responses import error_response
from clerk_sync.errors import ClerkSyncError, ConfigurationError, TokenMissingError
from clerk_sync.metrics import VERIFICATIONS

__all__ = ["ClerkRequiredMixin", "clerk_optional", "clerk_required"]

V = TypeVar("V", bound=Callable[..., Any])

_MISSING = "No session token in the Authorization header or the __session cookie."


def _missing(request: HttpRequest) -> ClerkSyncError:
    """Why a required view has no user: the signed-out cookie's reason when there was one, else no token."""
    refusal: ClerkSyncError | None = getattr(request, "clerk_refusal", None)
    if refusal is not None:
        return refusal
    VERIFICATIONS.labels(TokenMissingError.code).inc()
    return TokenMissingError(_MISSING)


def _claims(request: HttpRequest) -> Any:
    if not hasattr(request, "clerk_claims"):
        raise ConfigurationError("clerk_required needs clerk_sync.django.middleware.ClerkSyncMiddleware in MIDDLEWARE")
    return request.clerk_claims


def _check(request: HttpRequest, required: bool) -> HttpResponseBase | None:
    """None to go on; otherwise the refusal (no token when one is required, or the user cannot be resolved)."""
    try:
        if _claims(request) is None:
            if required:
                raise _missing(request)
            return None
        user = request._clerk_sync_user  # type: ignore[attr-defined]
        user.pin(request, user.get())
    except ClerkSyncError as exc:
        return error_response(request, exc)
    return None


async def _acheck(request: HttpRequest, required: bool) -> HttpResponseBase | None:
    try:
        if _claims(request) is None:
            if required:
                raise _missing(request)
            return None
        user = request._clerk_sync_user  # type: ignore[attr-defined]
        user.pin(request, await user.aget())
    except ClerkSyncError as exc:
        return error_response(request, exc)
    return None


def _guard(view: V, required: bool) -> V:
    if iscoroutinefunction(view):

        @wraps(view)
        async def async_guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            refused = await _acheck(request, required)
            return refused if refused is not None else await view(request, *args, **kwargs)

        return markcoroutinefunction(async_guarded)  # type: ignore[return-value]

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        refused = _check(request, required)
        return refused if refused is not None else view(request, *args, **kwargs)

    return guarded  # type: ignore[return-value]


def clerk_required(view: V) -> V:
    """A view for signed-in users only: 401 ``session-token-missing`` without a token (or the reason a cookie
    did not authenticate); the user is synced first."""
    return _guard(view, required=True)


def clerk_optional(view: V) -> V:
    """A view for anyone: the user is synced first when a token was sent (``request.clerk_user`` is None when
    not), so its refusals are answered before the view runs."""
    return _guard(view, required=False)


class ClerkRequiredMixin:
    """``clerk_required`` for class-based views (sync and async handlers): list it first among the bases."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        parent = super().dispatch  # type: ignore[misc]
        if getattr(self, "view_is_async", False):

            async def guarded() -> Any:
                refused = await _acheck(request, True)
                return refused if refused is not None else await parent(request, *args, **kwargs)

            return guarded()
        refused = _check(request, True)
        return refused if refused is not None else parent(request, *args, **kwargs)
