"""Owner-only notes: every query is filtered by the synced user, so another user's note is a 404."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_http_methods

from clerk_sync.django.decorators import clerk_required
from notes.models import Note


@require_http_methods(["GET", "POST"])
@clerk_required  # 401 problem+json with WWW-Authenticate without a valid token
def notes(request: HttpRequest) -> HttpResponse:
    owner = request.clerk_user  # type: ignore[attr-defined]  # set by ClerkSyncMiddleware
    if request.method == "GET":
        return JsonResponse([note.as_json() for note in Note.objects.filter(owner=owner)], safe=False)
    try:
        payload = json.loads(request.body)
        title, body = payload["title"], payload.get("body", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return JsonResponse({"detail": "expected {'title': str, 'body'?: str}"}, status=400)
    if not isinstance(title, str) or not 1 <= len(title) <= 200 or not isinstance(body, str):
        return JsonResponse({"detail": "title: 1-200 characters; body: a string"}, status=400)
    return JsonResponse(Note.objects.create(owner=owner, title=title, body=body).as_json(), status=201)


@require_http_methods(["GET", "DELETE"])
@clerk_required
def note(request: HttpRequest, note_id: int) -> HttpResponse:
    found = get_object_or_404(Note, pk=note_id, owner=request.clerk_user)  # type: ignore[attr-defined]
    if request.method == "DELETE":
        found.delete()
        return HttpResponse(status=204)
    return JsonResponse(found.as_json())
