"""``GET /me``: the contract's user document, from ``request.clerk_user``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from clerk_sync.django.decorators import clerk_required

__all__ = ["me", "user_json"]


def user_json(user: Any) -> dict[str, Any]:
    """The ``/me`` document, field for field and format for format as the FastAPI service renders it."""
    return {
        "id": user.id,
        "clerk_id": user.clerk_id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "image_url": user.image_url,
        "public_metadata": user.public_metadata,
        "created_at": _iso(user.created_at),
        "updated_at": _iso(user.updated_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@require_GET
@clerk_required
def me(request: HttpRequest) -> JsonResponse:
    """The current user, synced from the session token."""
    return JsonResponse(user_json(request.clerk_user))  # type: ignore[attr-defined]
