"""Helpers for the HTTP-level webhook tests: the reference service on a database, signed Clerk events, an
independent view of the two tables, and a TCP forwarder that can cut PostgreSQL off without stopping it.

The tables are read through an engine of the test's own (never the app's sessions), so what the tests see is
what is committed in the database, not what the app believes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from clerk_sync.db import ProcessedWebhook, User, upgrade
from clerk_sync.issuer import TokenIssuer
from clerk_sync.service import ServiceSettings, create_app
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing import make_webhook_secret, sign_event
from tests.asgi import serving
from tests.tcp_proxy import TcpProxy

__all__ = [
    "SECRET",
    "WEBHOOK_PATH",
    "Service",
    "TcpProxy",
    "deleted_event",
    "now_ms",
    "pin_webhook_clock",
    "running_service",
    "user_event",
]

SECRET = make_webhook_secret()
WEBHOOK_PATH = "/webhooks/clerk"


@dataclass(slots=True)
class Service:
    """The running reference service and the URL its tables can be read at directly."""

    client: httpx.AsyncClient
    app: FastAPI
    direct_url: str

    async def post(
        self,
        event: Mapping[str, Any],
        *,
        secret: str = SECRET,
        msg_id: str | None = None,
        timestamp: float | None = None,
    ) -> httpx.Response:
        """Sign ``event`` as Svix would and deliver it."""
        body, headers = sign_event(event, secret, msg_id=msg_id, timestamp=timestamp)
        return await self.client.post(WEBHOOK_PATH, content=body, headers=headers)

    async def deliver(self, body: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """Deliver exact bytes with exact headers (a retry resends both unchanged)."""
        return await self.client.post(WEBHOOK_PATH, content=body, headers=dict(headers))

    async def counts(self) -> tuple[int, int]:
        """Committed rows in ``users`` and in the webhook ledger ``clerk_webhook_events``."""
        engine = create_async_engine(self.direct_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                users = (await connection.execute(select(func.count()).select_from(User))).scalar_one()
                ledger = (await connection.execute(select(func.count()).select_from(ProcessedWebhook))).scalar_one()
        finally:
            await engine.dispose()
        return int(users), int(ledger)

    async def user(self, clerk_id: str) -> User:
        """The committed row of ``clerk_id`` (exactly one must exist)."""
        engine = create_async_engine(self.direct_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                row = (await connection.execute(select(User.__table__).where(User.clerk_id == clerk_id))).one()
        finally:
            await engine.dispose()
        return User(**row._asdict())

    async def ledger_ids(self) -> list[str]:
        """The svix-ids recorded as processed."""
        engine = create_async_engine(self.direct_url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                ids = (await connection.execute(select(ProcessedWebhook.svix_id))).scalars().all()
        finally:
            await engine.dispose()
        return sorted(ids)


@asynccontextmanager
async def running_service(
    url: str,
    issuer: TokenIssuer,
    *,
    secret: str | None = SECRET,
    direct_url: str | None = None,
    include_private_metadata: bool = False,
) -> AsyncIterator[Service]:
    """``create_app`` of the reference service on ``url`` (migrated first), with its lifespan running.

    ``direct_url`` is where the tests read the tables when the app reaches the database some other way (through
    a ``TcpProxy``); it defaults to ``url``.
    """
    direct = direct_url or url
    await upgrade(direct)
    settings = ClerkSettings(
        jwt_key=issuer.public_pem(),
        webhook_signing_secret=secret,
        include_private_metadata=include_private_metadata,
    )
    app = create_app(ServiceSettings(database_url=url), settings)
    async with serving(app) as client:
        yield Service(client, app, direct)


def user_event(kind: str, user: Mapping[str, Any], *, timestamp: int | None = None) -> dict[str, Any]:
    """A ``user.created`` / ``user.updated`` envelope around a Clerk User object (``make_user_json``)."""
    return {
        "data": dict(user),
        "instance_id": "ins_test",
        "object": "event",
        "timestamp": timestamp if timestamp is not None else user["updated_at"],
        "type": kind,
        "event_attributes": {"http_request": {"client_ip": "127.0.0.1", "user_agent": "pytest"}},
    }


def deleted_event(clerk_id: str, *, timestamp: int) -> dict[str, Any]:
    """A ``user.deleted`` envelope: its data has no ``updated_at``, so the event timestamp versions it."""
    return {
        "data": {"deleted": True, "id": clerk_id, "object": "user"},
        "instance_id": "ins_test",
        "object": "event",
        "timestamp": timestamp,
        "type": "user.deleted",
    }


def pin_webhook_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make the webhook verifier's "now" ``seconds`` (Unix time), to test the replay window to the second.

    Only the verifier's clock moves; the database's timestamps keep the real time.
    """

    class PinnedDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> PinnedDatetime:
            pinned = cls.fromtimestamp(seconds, UTC)
            return pinned if tz is not None else pinned.replace(tzinfo=None)

    monkeypatch.setattr("clerk_sync.webhooks.datetime", PinnedDatetime)


def now_ms() -> int:
    """The current Unix time in milliseconds, the unit of Clerk's event timestamps and versions."""
    return int(time.time() * 1000)
