"""The test kit for Django apps: make the app trust the ``clerk_issuer`` fixture's key.

In a pytest-django suite, ``pytest_plugins = ["clerk_sync.django.testing"]`` in ``conftest.py`` adds the
``clerk_django`` fixture: for the test's duration ``settings.CLERK_SYNC`` points at the issuer's public key (the
roots reopen with it), so Django's test client (sync or async) sends ``Authorization: Bearer <issuer.mint(...)>``
and the app syncs that user::

    def test_me(client, clerk_django, clerk_issuer):
        token = clerk_issuer.mint("user_1", claims={"email": "ada@example.com"})
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})

Outside pytest, ``trust_issuer(issuer, webhook_signing_secret=...)`` is the same as a context manager.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from clerk_sync.issuer import TokenIssuer

__all__ = ["clerk_django", "trust_issuer"]


@contextmanager
def trust_issuer(issuer: TokenIssuer, **overrides: Any) -> Iterator[dict[str, Any]]:
    """``CLERK_SYNC`` with the issuer's key (and ``overrides``, ``ClerkSettings`` field names) until the block
    ends; the roots close on entry and exit, so no test sees another's settings."""
    from clerk_sync.django.runtime import SETTINGS_NAME, reset  # once Django is set up (pytest-django's job)

    values: dict[str, Any] = {**(getattr(settings, SETTINGS_NAME, None) or {}), **overrides}
    values["jwt_key"] = issuer.public_pem(armor=False)
    with override_settings(**{SETTINGS_NAME: values}):
        try:
            yield values
        finally:
            reset()


@pytest.fixture
def clerk_django(clerk_issuer: TokenIssuer) -> Iterator[TokenIssuer]:
    """The app trusts ``clerk_issuer`` for this test; yields the issuer, to mint tokens with."""
    with trust_issuer(clerk_issuer):
        yield clerk_issuer
