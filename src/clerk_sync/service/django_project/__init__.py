"""The Django reference project behind ``clerk-sync serve --framework django``: the FastAPI service's contract
(``/me``, ``/webhooks/clerk``, ``/healthz``, ``/readyz``, problem+json for everything else), built only from
``clerk_sync.django``'s public API. ``DJANGO_SETTINGS_MODULE=clerk_sync.service.django_project.settings``."""

from __future__ import annotations

__all__: list[str] = []
