"""Test kit for apps built on clerk-sync: mint Clerk-shaped tokens, serve their JWKS, sign webhooks, fake the
Backend API. The pytest fixtures live in ``clerk_sync.testing.plugin`` (loaded automatically by pytest)."""

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing.backend import FakeClerkBackend, make_user_json
from clerk_sync.testing.jwks_server import JwksServer
from clerk_sync.testing.webhooks import make_webhook_secret, sign_event, sign_webhook

__all__ = [
    "FakeClerkBackend",
    "JwksServer",
    "TokenIssuer",
    "make_user_json",
    "make_webhook_secret",
    "sign_event",
    "sign_webhook",
]
