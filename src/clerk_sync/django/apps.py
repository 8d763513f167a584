"""The Django app: label ``clerk_sync``, so the models are ``clerk_sync.ClerkUser`` and
``clerk_sync.ProcessedWebhook`` and the concrete user model is swappable by that name."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings

from clerk_sync.django.conf import DEFAULT_USER_MODEL, USER_MODEL_SETTING

__all__ = ["ClerkSyncConfig"]


class ClerkSyncConfig(AppConfig):
    """Registers clerk-sync's models, migrations and admin."""

    name = "clerk_sync.django"
    label = "clerk_sync"
    verbose_name = "Clerk sync"
    default_auto_field = "django.db.models.BigAutoField"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Give ``CLERK_SYNC_USER_MODEL`` its default before any model is imported, as ``AUTH_USER_MODEL`` has
        one, so an app's ``ForeignKey(settings.CLERK_SYNC_USER_MODEL)`` and the ``swappable_dependency`` its
        migration gets work without the project naming clerk-sync's own model."""
        super().__init__(*args, **kwargs)
        if not hasattr(settings, USER_MODEL_SETTING):
            setattr(settings, USER_MODEL_SETTING, DEFAULT_USER_MODEL)

    def ready(self) -> None:
        """Connect the roots' reset to ``setting_changed`` (``override_settings(CLERK_SYNC=...)`` in tests)."""
        from clerk_sync.django import runtime  # noqa: F401
