"""Views the adapter tests call: each touches the request's user in one specific way."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import View
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clerk_sync.claims import SessionClaims
from clerk_sync.django.decorators import ClerkRequiredMixin, clerk_optional, clerk_required
from clerk_sync.django.drf import ClerkAuthentication

__all__ = [
    "AsyncMixinView",
    "DrfView",
    "MixinView",
    "async_user",
    "claims_only",
    "crash",
    "django_login",
    "optional",
    "required",
    "user_twice",
]


def claims_only(request: HttpRequest) -> JsonResponse:
    """Reads the claims and never the user."""
    claims = request.clerk_claims  # type: ignore[attr-defined]
    return JsonResponse({"sub": None if claims is None else claims.sub})


def user_twice(request: HttpRequest) -> JsonResponse:
    """Reads ``request.clerk_user`` twice (one sync must serve both)."""
    first = request.clerk_user.id  # type: ignore[attr-defined]
    second = request.clerk_user.clerk_id  # type: ignore[attr-defined]
    return JsonResponse({"id": first, "clerk_id": second})


@clerk_required
def required(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"clerk_id": request.clerk_user.clerk_id})  # type: ignore[attr-defined]


@clerk_optional
def optional(request: HttpRequest) -> JsonResponse:
    user = request.clerk_user  # type: ignore[attr-defined]
    return JsonResponse({"clerk_id": None if user is None else user.clerk_id})


@clerk_required
async def async_user(request: HttpRequest) -> JsonResponse:
    first = await request.aclerk_user()  # type: ignore[attr-defined]
    second = await request.aclerk_user()  # type: ignore[attr-defined]
    return JsonResponse({"clerk_id": first.clerk_id, "same": first is second})


class MixinView(ClerkRequiredMixin, View):
    def get(self, request: HttpRequest) -> JsonResponse:
        return JsonResponse({"clerk_id": request.clerk_user.clerk_id})  # type: ignore[attr-defined]


class AsyncMixinView(ClerkRequiredMixin, View):
    async def get(self, request: HttpRequest) -> JsonResponse:
        user = await request.aclerk_user()  # type: ignore[attr-defined]
        return JsonResponse({"clerk_id": user.clerk_id})


@login_required
def django_login(request: HttpRequest) -> JsonResponse:
    """Django's own guard over ``request.user`` (the synced row when it is ``AUTH_USER_MODEL``)."""
    user: Any = request.user
    return JsonResponse({"model": user.__class__.__name__, "clerk_id": user.clerk_id})


class DrfView(APIView):  # type: ignore[misc]
    authentication_classes = (ClerkAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        user: Any = request.user
        return Response({"clerk_id": user.clerk_id, "claims": isinstance(request.auth, SessionClaims)})


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"boom with {request.headers.get('Authorization')}")
