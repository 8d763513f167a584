"""Values the database cannot store are refused before it, over HTTP, on an SQLite file and real PostgreSQL.

A signed token whose claim cannot be stored (the wrong type, longer than its column, a version out of range)
is a 401 ``token-claim-invalid`` naming the claim; a signed webhook with such a field, or with a field of the
wrong type, is a 400 ``webhook-payload-invalid`` naming the field. Never a 503 (clients and Svix would retry the
same data forever), never a 500, never a silent coercion, never the value in the answer; and nothing is written:
the row keeps its values and the webhook ledger does not mark the message applied. Tables are read through an
engine of the test's own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.pool import NullPool

from clerk_sync.db import ClerkUserMixin, ProcessedWebhook
from clerk_sync.fastapi import ClerkSync, CurrentUser, install_exception_handlers, webhook_router
from clerk_sync.issuer import TokenIssuer
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing import make_user_json, sign_event
from tests.asgi import serving
from tests.integrations.webhook_support import (
    SECRET,
    WEBHOOK_PATH,
    Service,
    deleted_event,
    running_service,
    user_event,
)
from tests.support import AppBase, open_engine

pytestmark = pytest.mark.anyio

PROBLEM_JSON = "application/problem+json"
CLAIMS: dict[str, Any] = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "public_metadata": {"plan": "pro"},
}
BASE = 1_700_000_000_000
FIXTURES = Path(__file__).parent.parent / "fixtures"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(response: httpx.Response, status: int, code: str, field: str, value: object) -> None:
    """A problem document with ``code`` whose detail names ``field`` and never shows ``value``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["code"] == code
    assert field in problem["detail"]
    if isinstance(value, str) and len(value) > 3:
        assert value not in response.text
    if status == 401:
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def snapshot(row: Any) -> tuple[Any, ...]:
    return (row.email, row.first_name, row.last_name, row.image_url, row.public_metadata, row.clerk_version)


# --- tokens ------------------------------------------------------------------------------------------------

TOKEN_CASES = [
    pytest.param({"email": "a" * 10_000 + "@example.com"}, "email", id="email-10k-chars"),
    pytest.param({"email": "a" * 309 + "@example.com"}, "email", id="email-321-chars"),
    pytest.param({"email": 42}, "email", id="email-number"),
    pytest.param({"email": {"address": "ada@example.com"}}, "email", id="email-object"),
    pytest.param({"first_name": True}, "first_name", id="first-name-bool"),
    pytest.param({"first_name": ["Ada"]}, "first_name", id="first-name-list"),
    pytest.param({"last_name": "Love\x00lace"}, "last_name", id="last-name-nul"),
    pytest.param({"first_name": "Ada\ud800"}, "first_name", id="first-name-lone-surrogate"),
    pytest.param({"public_metadata": ["pro"]}, "public_metadata", id="metadata-list"),
    pytest.param({"public_metadata": {"plan": "p\x00"}}, "public_metadata", id="metadata-nul"),
    pytest.param({"updated_at": 1e300}, "updated_at", id="updated-at-1e300"),
    pytest.param({"updated_at": 10**19}, "updated_at", id="updated-at-beyond-bigint"),
    pytest.param({"updated_at": -5}, "updated_at", id="updated-at-negative"),
    pytest.param({"updated_at": "soon"}, "updated_at", id="updated-at-text"),
    pytest.param({"updated_at": None, "iat": -(10**20)}, "iat", id="iat-out-of-range"),
]


@pytest.mark.parametrize(("bad", "claim"), TOKEN_CASES)
async def test_token_claim_the_row_cannot_hold_is_401_and_writes_nothing(
    db_url: str, clerk_issuer: TokenIssuer, bad: dict[str, Any], claim: str
) -> None:
    """A verified token whose claim cannot be stored is a 401 ``token-claim-invalid`` naming the claim, never
    its value, on both databases; the user's row keeps every value (before: SQLite stored ``42`` as ``'42'``
    or answered 500, PostgreSQL answered 503 ``database-unavailable``, bad versions fell back to ``iat``)."""
    async with running_service(db_url, clerk_issuer) as svc:
        first = await svc.client.get("/me", headers=bearer(clerk_issuer.mint("user_claims", claims=CLAIMS)))
        assert first.status_code == 200, first.text
        before = snapshot(await svc.user("user_claims"))

        # first_name changes too, so the request has something to write
        token = clerk_issuer.mint("user_claims", claims={**CLAIMS, "first_name": "Augusta", **bad})
        response = await svc.client.get("/me", headers=bearer(token))

        assert_refused(response, 401, "token-claim-invalid", claim, next(iter(bad.values())))
        assert snapshot(await svc.user("user_claims")) == before
        assert await svc.counts() == (1, 0)


async def test_sub_longer_than_the_clerk_id_column_is_401_naming_sub(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """A ``sub`` longer than ``clerk_id``'s ``String(255)`` is refused naming ``sub`` and creates no row
    (before: SQLite stored it, PostgreSQL answered 503); a ``sub`` of exactly 255 characters is accepted."""
    async with running_service(db_url, clerk_issuer) as svc:
        too_long = "user_" + "x" * 251
        response = await svc.client.get("/me", headers=bearer(clerk_issuer.mint(too_long, claims=CLAIMS)))
        assert_refused(response, 401, "token-claim-invalid", "sub", too_long)
        assert await svc.counts() == (0, 0)

        fits = "user_" + "x" * 250
        accepted = await svc.client.get("/me", headers=bearer(clerk_issuer.mint(fits, claims=CLAIMS)))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["clerk_id"] == fits


async def test_claims_at_the_limits_are_accepted(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """The bounds are limits, not guesses: a 320-character address, non-ASCII names and the latest allowed
    version are stored as sent, and the next request is the steady state again."""
    claims = {
        **CLAIMS,
        "email": "a" * 308 + "@example.com",
        "first_name": "Ada 🚀 Ünïcødé",
        "updated_at": 253_402_300_799_999,
    }
    async with running_service(db_url, clerk_issuer) as svc:
        response = await svc.client.get("/me", headers=bearer(clerk_issuer.mint("user_edge", claims=claims)))
        assert response.status_code == 200, response.text
        row = await svc.user("user_edge")
        assert (row.email, row.first_name, row.clerk_version) == (
            claims["email"],
            claims["first_name"],
            claims["updated_at"],
        )
        again = await svc.client.get("/me", headers=bearer(clerk_issuer.mint("user_edge", claims=claims)))
        assert again.json()["updated_at"] == response.json()["updated_at"]


# --- webhooks ----------------------------------------------------------------------------------------------


def updated_user(**overrides: Any) -> dict[str, Any]:
    """A newer ``user.updated`` for ``user_hook`` that changes ``first_name``, with ``overrides`` applied."""
    user = make_user_json("user_hook", email="hook@example.com", updated_at=BASE + 1_000)
    user["first_name"] = "Changed"
    user.update(overrides)
    return user_event("user.updated", user, timestamp=BASE + 1_000)


WEBHOOK_CASES = [
    pytest.param({"first_name": 42}, "data.first_name", id="first-name-number"),
    pytest.param({"last_name": ["Lovelace"]}, "data.last_name", id="last-name-list"),
    pytest.param({"image_url": {"url": "https://img"}}, "data.image_url", id="image-url-object"),
    pytest.param({"email_addresses": "x"}, "data.email_addresses", id="email-addresses-string"),
    pytest.param({"email_addresses": ["hook@example.com"]}, "data.email_addresses[0]", id="email-address-string"),
    pytest.param(
        {"email_addresses": [{"id": "idn_1", "email_address": 5}], "primary_email_address_id": "idn_1"},
        "data.email_addresses[0].email_address",
        id="email-address-number",
    ),
    pytest.param({"primary_email_address_id": 7}, "data.primary_email_address_id", id="primary-id-number"),
    pytest.param({"public_metadata": []}, "data.public_metadata", id="metadata-list"),
    pytest.param({"public_metadata": "plan"}, "data.public_metadata", id="metadata-string"),
    pytest.param({"updated_at": 1e300}, "data.updated_at", id="updated-at-1e300"),
    pytest.param({"updated_at": 10**19}, "data.updated_at", id="updated-at-beyond-bigint"),
    pytest.param({"updated_at": -1}, "data.updated_at", id="updated-at-negative"),
    pytest.param({"updated_at": "1700000001000"}, "data.updated_at", id="updated-at-string"),
    pytest.param({"first_name": "Chan\x00ged"}, "data.first_name", id="first-name-nul"),
    pytest.param({"public_metadata": {"plan": "\x00"}}, "data.public_metadata", id="metadata-nul"),
    pytest.param({"last_name": "x" * 1025}, "data.last_name", id="last-name-too-long"),
    pytest.param({"id": "user_" + "y" * 251}, "data.id", id="id-too-long"),
    pytest.param({"id": 12345}, "data.id", id="id-number"),
]


@pytest.fixture
async def hooked(db_url: str, clerk_issuer: TokenIssuer) -> AsyncIterator[Service]:
    """The reference service holding ``user_hook``, created by one applied ``user.created``."""
    async with running_service(db_url, clerk_issuer) as svc:
        created = make_user_json("user_hook", email="hook@example.com", updated_at=BASE)
        response = await svc.post(user_event("user.created", created))
        assert response.status_code == 200, response.text
        yield svc


@pytest.mark.parametrize(("overrides", "field"), WEBHOOK_CASES)
async def test_webhook_field_of_the_wrong_type_or_unstorable_is_400_and_writes_nothing(
    hooked: Service, overrides: dict[str, Any], field: str
) -> None:
    """A signed ``user.updated`` with such a field is a 400 ``webhook-payload-invalid`` naming the field, never
    its value; the row keeps its values and the ledger does not record the message (before: wrong types were
    coerced to "cleared" and applied, bad versions answered 500 or 503, long ids 503 on PostgreSQL)."""
    before = snapshot(await hooked.user("user_hook"))
    response = await hooked.post(updated_user(**overrides))
    assert_refused(response, 400, "webhook-payload-invalid", field, next(iter(overrides.values())))
    assert snapshot(await hooked.user("user_hook")) == before
    assert await hooked.counts() == (1, 1)


async def test_private_metadata_of_the_wrong_type_is_400_when_stored(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """With ``CLERK_INCLUDE_PRIVATE_METADATA`` on, ``private_metadata`` must be an object (or null) too."""
    async with running_service(db_url, clerk_issuer, include_private_metadata=True) as svc:
        response = await svc.post(user_event("user.created", {**make_user_json("user_p"), "private_metadata": [1]}))
        assert_refused(response, 400, "webhook-payload-invalid", "data.private_metadata", None)
        assert await svc.counts() == (0, 0)


@pytest.mark.parametrize("timestamp", [10**30, 1e300, -1, "1661861640000"], ids=["huge", "1e300", "negative", "text"])
async def test_user_event_timestamp_out_of_range_is_400(hooked: Service, timestamp: Any) -> None:
    """``user.deleted`` is versioned by the envelope's ``timestamp``: one that is no integer timestamp in range
    is a 400 naming ``timestamp``, and the user is not tombstoned (before: 500 on SQLite, 503 on PostgreSQL;
    a negative or text one silently became the delivery time)."""
    event = {**deleted_event("user_hook", timestamp=BASE), "timestamp": timestamp}
    response = await hooked.post(event)
    assert_refused(response, 400, "webhook-payload-invalid", "timestamp", None)
    assert (await hooked.user("user_hook")).deleted_at is None
    assert await hooked.counts() == (1, 1)


async def test_other_event_types_keep_a_lenient_timestamp(hooked: Service) -> None:
    """Events that touch no table are still acknowledged whatever their timestamp: refusing them would only
    make Svix retry something we ignore."""
    response = await hooked.post({"type": "session.created", "data": {"id": "sess_1"}, "timestamp": 1e300})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"


async def test_svix_id_longer_than_the_ledger_column_is_400(hooked: Service) -> None:
    """The message id is stored in the ledger's ``String(255)``: a longer one is refused naming ``svix-id``,
    before anything is written (before: SQLite applied it, PostgreSQL answered 503 forever)."""
    response = await hooked.post(updated_user(), msg_id="msg_" + "m" * 252)
    assert_refused(response, 400, "webhook-payload-invalid", "svix-id", None)
    assert await hooked.counts() == (1, 1)
    assert (await hooked.user("user_hook")).first_name == "Example"


async def test_refused_message_is_not_marked_applied(hooked: Service) -> None:
    """A 400 leaves no ledger row: the same message id with a readable body is applied afterwards, not
    answered as a duplicate."""
    refused = await hooked.post(updated_user(first_name=42), msg_id="msg_retry")
    assert refused.status_code == 400
    assert "msg_retry" not in await hooked.ledger_ids()
    applied = await hooked.post(updated_user(), msg_id="msg_retry")
    assert applied.status_code == 200, applied.text
    assert applied.json()["status"] == "updated"
    assert (await hooked.user("user_hook")).first_name == "Changed"


@pytest.mark.parametrize("name", ["user.created.json", "user.updated.json", "user.deleted.json"])
async def test_real_clerk_payloads_still_apply(db_url: str, clerk_issuer: TokenIssuer, name: str) -> None:
    """Clerk's own sample events (``tests/fixtures``: nulls, empty strings, nested verification objects)
    pass the stricter reading and are applied."""
    event = json.loads((FIXTURES / name).read_text())
    async with running_service(db_url, clerk_issuer) as svc:
        response = await svc.post(event)
        assert response.status_code == 200, response.text
        assert response.json()["status"] in {"created", "updated", "deleted"}


# --- an app's own model: its lengths, and its constraints -------------------------------------------------


class Member(ClerkUserMixin, AppBase):
    """An app model with a shorter name column and a unique email, as apps declare them."""

    __tablename__ = "unstorable_members"
    first_name: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320), unique=True)


@dataclass(slots=True)
class MemberApp:
    client: httpx.AsyncClient
    url: str

    async def post(self, event: Mapping[str, Any], msg_id: str | None = None) -> httpx.Response:
        body, headers = sign_event(event, SECRET, msg_id=msg_id)
        return await self.client.post(WEBHOOK_PATH, content=body, headers=headers)

    async def counts(self) -> tuple[int, int]:
        engine = create_async_engine(self.url, poolclass=NullPool)
        try:
            async with engine.connect() as connection:
                members = (await connection.execute(select(func.count()).select_from(Member))).scalar_one()
                ledger = (await connection.execute(select(func.count()).select_from(ProcessedWebhook))).scalar_one()
        finally:
            await engine.dispose()
        return int(members), int(ledger)


@asynccontextmanager
async def member_app(url: str, issuer: TokenIssuer) -> AsyncIterator[MemberApp]:
    """An app of its own: ``ClerkSync(model=Member)``, ``/me`` and the webhook route."""
    async with open_engine(url, Member, ProcessedWebhook):
        pass
    settings = ClerkSettings(jwt_key=issuer.public_pem(), webhook_signing_secret=SECRET)
    clerk = ClerkSync(settings, database_url=url, model=Member)
    app = FastAPI(lifespan=clerk.lifespan)
    install_exception_handlers(app)
    app.include_router(webhook_router())

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {"clerk_id": user.clerk_id, "first_name": user.first_name}

    async with serving(app) as client:
        yield MemberApp(client, url)


async def test_lengths_come_from_the_apps_model(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """The app's ``String(20)`` first name: 20 characters are stored, 21 are refused naming the claim or the
    field, on both databases (before: SQLite stored 21, PostgreSQL answered 503)."""
    async with member_app(db_url, clerk_issuer) as app:
        fits = await app.client.get(
            "/me", headers=bearer(clerk_issuer.mint("user_m1", claims={"first_name": "x" * 20}))
        )
        assert fits.status_code == 200, fits.text
        too_long = await app.client.get(
            "/me", headers=bearer(clerk_issuer.mint("user_m2", claims={"first_name": "y" * 21}))
        )
        assert_refused(too_long, 401, "token-claim-invalid", "first_name", "y" * 21)
        assert "20 characters" in too_long.json()["detail"]

        event = user_event("user.created", make_user_json("user_m3", first_name="z" * 21, updated_at=BASE))
        hook = await app.post(event)
        assert_refused(hook, 400, "webhook-payload-invalid", "data.first_name", "z" * 21)
        assert await app.counts() == (1, 0)


async def test_a_value_the_database_refuses_is_a_refusal_not_an_outage(
    db_url: str, clerk_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """What no column type says (the app's unique email) is refused by the database itself: a token is a 401
    ``token-claim-invalid``, a webhook a 400, never a 503 or a 500; nothing is written, the ledger stays empty,
    and no log line or traceback carries the address (before: a 500 whose logged trace held the parameters)."""
    caplog.set_level(logging.DEBUG)
    shared = "shared.secret@example.com"
    async with member_app(db_url, clerk_issuer) as app:
        owner = await app.client.get("/me", headers=bearer(clerk_issuer.mint("user_a", claims={"email": shared})))
        assert owner.status_code == 200, owner.text

        rival = await app.client.get("/me", headers=bearer(clerk_issuer.mint("user_b", claims={"email": shared})))
        assert_refused(rival, 401, "token-claim-invalid", "claim", shared)

        hook = await app.post(user_event("user.created", make_user_json("user_c", email=shared, updated_at=BASE)))
        assert_refused(hook, 400, "webhook-payload-invalid", "field", shared)
        assert await app.counts() == (1, 0)

        # The next request of the refused user is refused again, not answered from a half-written state.
        again = await app.client.get("/me", headers=bearer(clerk_issuer.mint("user_b", claims={"email": shared})))
        assert again.status_code == 401

    formatter = logging.Formatter()
    logged = "\n".join(formatter.format(record) for record in caplog.records)  # messages and tracebacks
    assert "database refused a value" in logged
    assert shared not in logged
