"""The notes routes and clerk-sync's (``POST webhooks/clerk``, ``GET healthz``, ``GET readyz``)."""

from django.urls import include, path
from notes import views

urlpatterns = [
    path("notes", views.notes),
    path("notes/<int:note_id>", views.note),
    path("", include("clerk_sync.django.urls")),
]
