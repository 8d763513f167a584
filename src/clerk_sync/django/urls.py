"""``path("", include("clerk_sync.django.urls"))``: the webhook route and the health probes, at the paths the
FastAPI service uses (``webhooks/clerk``, ``healthz``, ``readyz``)."""

from __future__ import annotations

from django.urls import path

from clerk_sync.django import views

__all__ = ["app_name", "urlpatterns"]

app_name = "clerk_sync"

urlpatterns = [
    path("webhooks/clerk", views.webhook, name="webhook"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
]
