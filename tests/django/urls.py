"""The test project's routes (``ROOT_URLCONF`` of ``tests.django.settings``)."""

from __future__ import annotations

from django.urls import include, path

from tests.django import views

__all__ = ["handler404", "handler500", "urlpatterns"]

urlpatterns = [
    path("claims", views.claims_only),
    path("twice", views.user_twice),
    path("required", views.required),
    path("optional", views.optional),
    path("async", views.async_user),
    path("mixin", views.MixinView.as_view()),
    path("async-mixin", views.AsyncMixinView.as_view()),
    path("login", views.django_login),
    path("drf", views.DrfView.as_view()),
    path("crash", views.crash),
    path("", include("clerk_sync.django.urls")),
]

handler404 = "clerk_sync.django.views.page_not_found"
handler500 = "clerk_sync.django.views.server_error"
