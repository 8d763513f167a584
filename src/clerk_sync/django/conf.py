"""Which model holds the synced users: ``settings.CLERK_SYNC_USER_MODEL`` (``app_label.ModelName``).

The default is clerk-sync's own ``clerk_sync.ClerkUser`` (table ``users``). An app with its own model (one that
extends ``AbstractClerkUser``, its ``AUTH_USER_MODEL`` included) names it here, and the ``users`` table is then
not created: ``ClerkUser`` is swapped out exactly as ``auth.User`` is by ``AUTH_USER_MODEL``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps
from django.conf import settings

from clerk_sync.errors import ConfigurationError

if TYPE_CHECKING:
    from clerk_sync.django.models import AbstractClerkUser

__all__ = ["DEFAULT_USER_MODEL", "USER_MODEL_SETTING", "get_user_model", "user_model_label"]

USER_MODEL_SETTING = "CLERK_SYNC_USER_MODEL"
DEFAULT_USER_MODEL = "clerk_sync.ClerkUser"


def user_model_label() -> str:
    """The configured label; migrations of apps that reference the model use it in ``swappable_dependency``."""
    label = getattr(settings, USER_MODEL_SETTING, None) or DEFAULT_USER_MODEL
    if not isinstance(label, str):
        raise ConfigurationError(f"{USER_MODEL_SETTING} must be 'app_label.ModelName', not {type(label).__name__}")
    return label


def get_user_model() -> type[AbstractClerkUser]:
    """The synced model class; it must extend ``AbstractClerkUser`` (failing at start beats failing per row)."""
    from clerk_sync.django.models import AbstractClerkUser

    label = user_model_label()
    try:
        model = apps.get_model(label, require_ready=False)
    except (ValueError, LookupError) as error:
        raise ConfigurationError(f"{USER_MODEL_SETTING}={label!r} names no installed model") from error
    if not issubclass(model, AbstractClerkUser):
        raise ConfigurationError(f"{USER_MODEL_SETTING}={label!r} does not extend AbstractClerkUser")
    return model
