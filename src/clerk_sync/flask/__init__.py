"""Flask integration: the ``ClerkSync`` extension, ``current_user`` / ``current_claims``, the route decorators,
the webhook and probe blueprints, and problem+json for clerk-sync's errors."""

from clerk_sync.flask.auth import (
    clerk_optional,
    clerk_required,
    current_claims,
    current_user,
    get_claims,
    get_current_user,
)
from clerk_sync.flask.errors import install_error_handlers, problem_response, render
from clerk_sync.flask.extension import EXTENSION_KEY, ClerkState, ClerkSync, settings_from_config, state_of
from clerk_sync.flask.probes import probes_blueprint
from clerk_sync.flask.webhooks import webhook_blueprint

__all__ = [
    "EXTENSION_KEY",
    "ClerkState",
    "ClerkSync",
    "clerk_optional",
    "clerk_required",
    "current_claims",
    "current_user",
    "get_claims",
    "get_current_user",
    "install_error_handlers",
    "probes_blueprint",
    "problem_response",
    "render",
    "settings_from_config",
    "state_of",
    "webhook_blueprint",
]
