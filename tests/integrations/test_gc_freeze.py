"""``gc.freeze()`` is process-wide: a library must not do it to a host app unless the app asks."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from clerk_sync.fastapi import ClerkSync
from clerk_sync.issuer import TokenIssuer
from clerk_sync.service import ServiceSettings, create_app
from clerk_sync.settings import ClerkSettings
from tests.asgi import serving

pytestmark = pytest.mark.anyio


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Start and end with nothing frozen, whatever other tests in this process did."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def settings_for(issuer: TokenIssuer) -> ClerkSettings:
    return ClerkSettings(jwt_key=issuer.public_pem())


@pytest.mark.usefixtures("unfrozen")
async def test_host_app_collector_is_left_alone_by_default(clerk_issuer: TokenIssuer) -> None:
    """A host app's start-up under ``ClerkSync()`` freezes nothing (before, every app got ``gc.freeze()``)."""
    app = FastAPI(lifespan=ClerkSync(settings_for(clerk_issuer)).lifespan)
    async with serving(app) as client:
        assert (await client.get("/nothing")).status_code == 404  # the app really started
        assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("unfrozen")
async def test_freeze_is_opt_in(clerk_issuer: TokenIssuer) -> None:
    """``ClerkSync(freeze_gc=True)`` moves the start-up objects into the permanent generation."""
    app = FastAPI(lifespan=ClerkSync(settings_for(clerk_issuer), freeze_gc=True).lifespan)
    async with serving(app):
        assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("unfrozen")
async def test_reference_service_opts_in(clerk_issuer: TokenIssuer, tmp_path: Path) -> None:
    """The reference service owns its process and keeps the freeze (its p99 depends on it)."""
    service = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gc.db'}")
    async with serving(create_app(service, settings_for(clerk_issuer))) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert gc.get_freeze_count() > 0
