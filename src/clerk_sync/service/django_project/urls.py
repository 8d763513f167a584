"""The reference project's routes: ``/me`` and the adapter's webhook and health routes."""

from __future__ import annotations

from django.urls import include, path

from clerk_sync.service.django_project import views

__all__ = ["handler404", "handler500", "urlpatterns"]

urlpatterns = [
    path("me", views.me, name="me"),
    path("", include("clerk_sync.django.urls")),
]

handler404 = "clerk_sync.django.views.page_not_found"
handler500 = "clerk_sync.django.views.server_error"
