"""The Django app: label ``clerk_sync``, so the models are ``clerk_sync.ClerkUser`` and
``clerk_sync.ProcessedWebhook`` and the concrete user model is swappable by that name."""

from __future__ import annotations

from django.apps import AppConfig

__all__ = ["ClerkSyncConfig"]


class ClerkSyncConfig(AppConfig):
    """Registers clerk-sync's models, migrations and admin."""

    name = "clerk_sync.django"
    label = "clerk_sync"
    verbose_name = "Clerk sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the roots' reset to ``setting_changed`` (``override_settings(CLERK_SYNC=...)`` in tests)."""
        from clerk_sync.django import runtime  # noqa: F401
