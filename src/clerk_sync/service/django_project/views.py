"""``GET /me``: the contract's user document, from ``request.clerk_user``."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from clerk_sync.django.decorators import clerk_required
from clerk_sync.service.contract import user_json

__all__ = ["me", "user_json"]


@require_GET
@clerk_required
def me(request: HttpRequest) -> JsonResponse:
    """The current user, synced from the session token."""
    return JsonResponse(user_json(request.clerk_user))  # type: ignore[attr-defined]
