"""Fixtures for the Litestar adapter's tests: an issuer, a webhook secret, settings that trust them."""

from __future__ import annotations

import pytest

from clerk_sync.issuer import TokenIssuer
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing import make_webhook_secret


@pytest.fixture
def issuer() -> TokenIssuer:
    """A fresh signing key for the test's tokens."""
    return TokenIssuer()


@pytest.fixture
def secret() -> str:
    """The test's Svix signing secret."""
    return make_webhook_secret()


@pytest.fixture
def settings(issuer: TokenIssuer, secret: str) -> ClerkSettings:
    """Settings trusting ``issuer``'s key (networkless) and signing webhooks with ``secret``."""
    return ClerkSettings(jwt_key=issuer.public_pem(), webhook_signing_secret=secret, _env_file=None)
