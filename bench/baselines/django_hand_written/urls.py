"""``GET /me``: verify with PyJWT, then ``ClerkUser.objects.get_or_create(clerk_id=...)``; ``GET /healthz``."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from bench.baselines.django_hand_written.models import ClerkUser
from bench.baselines.pyjwt_session import SessionVerifier

__all__ = ["urlpatterns"]

_verifier = SessionVerifier()


def me(request: HttpRequest) -> JsonResponse:
    claims = _verifier.claims(request.headers.get("Authorization"))
    if claims is None:
        return JsonResponse({"detail": "signed out"}, status=401)
    user, _ = ClerkUser.objects.get_or_create(
        clerk_id=claims["sub"],
        defaults={"email": claims.get("email"), "first_name": claims.get("first_name")},
    )
    return JsonResponse({"id": user.id, "clerk_id": user.clerk_id, "email": user.email})


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [path("me", me), path("healthz", healthz)]
