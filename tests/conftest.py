"""Shared fixtures; the token kit's fixtures (``clerk_issuer``, ``clerk_jwks_server``, ``clerk_token``) come from
the package's own pytest plugin, exactly as an app's tests get them."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop uvicorn and asyncpg use in production."""
    return "asyncio"
