"""pytest plugin (entry point ``pytest11``): the test kit as fixtures, for this project and for apps.

``clerk_issuer`` is session-scoped because RSA key generation is the slow part; tests that rotate keys or
need a pristine issuer ask for ``fresh_clerk_issuer``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing.jwks_server import JwksServer

__all__ = ["clerk_issuer", "clerk_jwks_server", "clerk_token", "fresh_clerk_issuer"]


@pytest.fixture(scope="session")
def clerk_issuer() -> TokenIssuer:
    """A Clerk-shaped token issuer shared by the whole test session."""
    return TokenIssuer()


@pytest.fixture
def fresh_clerk_issuer() -> TokenIssuer:
    """An issuer of the test's own, free to rotate keys."""
    return TokenIssuer()


@pytest.fixture
def clerk_jwks_server(clerk_issuer: TokenIssuer) -> Iterator[JwksServer]:
    """The shared issuer's JWKS served on 127.0.0.1 for the duration of one test."""
    with JwksServer(clerk_issuer) as server:
        yield server


@pytest.fixture
def clerk_token(clerk_issuer: TokenIssuer) -> Callable[..., str]:
    """``clerk_token("user_123", claims={...})`` mints a valid session token."""

    def mint(sub: str = "user_test", **kwargs: Any) -> str:
        return clerk_issuer.mint(sub, **kwargs)

    return mint
