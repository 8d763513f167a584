"""POST /webhooks/clerk through real HTTP semantics into the reference service (``create_app``), on an SQLite
file and on a real PostgreSQL database.

The contract under test (issue "webhook endpoint"): the Svix signature is checked on the raw bytes first; every
refusal (400, 413, 503) writes nothing to either table; an accepted delivery takes effect exactly once, whatever
the order and however often it arrives; a database failure in the middle of an event is a 5xx that leaves no
trace, so Svix's retry of the same message applies it. Table state is read through an engine of the test's own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event, sign_webhook
from clerk_sync.webhooks import DEFAULT_MAX_BODY_BYTES
from tests.databases import temporary_postgres_database
from tests.integrations.webhook_support import (
    SECRET,
    WEBHOOK_PATH,
    Service,
    TcpProxy,
    deleted_event,
    now_ms,
    pin_webhook_clock,
    running_service,
    user_event,
)

pytestmark = pytest.mark.anyio

PROBLEM_JSON = "application/problem+json"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_SAMPLES = ("created", "updated", "deleted")
#: Svix gives up on a response after 15 s (clerk-facts 4.3).
SVIX_RESPONSE_LIMIT_S = 15.0

# The Standard Webhooks known-answer vector (standard-webhooks python tests: test_sign_function).
KAT_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KAT_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
KAT_TIMESTAMP = 1614265330
KAT_BODY = b'{"test": 2432232314}'
KAT_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.fixture
async def svc(db_url: str, clerk_issuer: TokenIssuer) -> AsyncIterator[Service]:
    async with running_service(db_url, clerk_issuer) as service:
        yield service


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == status
    assert problem["code"] == code


# --- the known-answer vector -------------------------------------------------------------------------------


async def test_known_answer_vector_verifies_on_the_route(
    db_url: str, clerk_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exact KAT headers and bytes pass the route's signature check (clock pinned to the vector's time):
    the answer is payload-invalid, not signature-invalid, because ``{"test": ...}`` is no Clerk event. The
    vector's signature with its last character changed is refused as a signature error. Nothing is written."""
    pin_webhook_clock(monkeypatch, KAT_TIMESTAMP + 1)
    kat = {"svix-id": KAT_ID, "svix-timestamp": str(KAT_TIMESTAMP), "svix-signature": KAT_SIGNATURE}
    async with running_service(db_url, clerk_issuer, secret=KAT_SECRET) as svc:
        assert_problem(await svc.deliver(KAT_BODY, kat), 400, "webhook-payload-invalid")
        tampered = {**kat, "svix-signature": KAT_SIGNATURE[:-2] + "A="}
        assert_problem(await svc.deliver(KAT_BODY, tampered), 400, "webhook-signature-invalid")
        # The same vector under the Standard Webhooks header names.
        standard = {name.replace("svix-", "webhook-"): value for name, value in kat.items()}
        assert_problem(await svc.deliver(KAT_BODY, standard), 400, "webhook-payload-invalid")
        assert await svc.counts() == (0, 0)


async def test_known_answer_vector_on_the_real_clock_is_stale(db_url: str, clerk_issuer: TokenIssuer) -> None:
    """Unpinned, the 2021 vector is far outside the 5-minute window: a replay, refused before parsing."""
    kat = {"svix-id": KAT_ID, "svix-timestamp": str(KAT_TIMESTAMP), "svix-signature": KAT_SIGNATURE}
    async with running_service(db_url, clerk_issuer, secret=KAT_SECRET) as svc:
        response = await svc.deliver(KAT_BODY, kat)
        assert_problem(response, 400, "webhook-signature-invalid")
        assert "too old" in response.json()["detail"]
        assert await svc.counts() == (0, 0)


# --- refusals write nothing --------------------------------------------------------------------------------


def _signed_user_created(clerk_id: str = "user_bad") -> tuple[bytes, dict[str, str]]:
    return sign_event(user_event("user.created", make_user_json(clerk_id)), SECRET)


def _resigned(body: bytes) -> tuple[bytes, dict[str, str]]:
    return body, sign_webhook(body, SECRET)


def _case(name: str) -> tuple[bytes, dict[str, str]]:
    body, headers = _signed_user_created()
    now = int(time.time())
    match name:
        case "no-headers":
            return body, {}
        case "no-id" | "no-timestamp" | "no-signature":
            dropped = "svix-" + name.removeprefix("no-")
            return body, {key: value for key, value in headers.items() if key != dropped}
        case "blank-signature":
            return body, {**headers, "svix-signature": "  \t  "}
        case "timestamp-not-a-number":
            return body, {**headers, "svix-timestamp": "hello"}
        case "wrong-signature":
            return body, {**headers, "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="}
        case "malformed-signatures-only":
            return body, {
                **headers,
                "svix-signature": "v1,test_signature nocomma v1, v2," + headers["svix-signature"][3:],
            }
        case "signed-by-another-secret":
            return body, sign_webhook(body, make_webhook_secret())
        case "tampered-body":
            return body.replace(b"user_bad", b"user_evl"), headers
        case "id-not-the-signed-one":
            return body, {**headers, "svix-id": "msg_other"}
        case "stale-5min-1s":
            return body, sign_webhook(body, SECRET, timestamp=now - 301)
        case "junk-json":
            return _resigned(b"{not json")
        case "json-array":
            return _resigned(b'[{"type": "user.created"}]')
        case "json-string":
            return _resigned(b'"user.created"')
        case "json-null":
            return _resigned(b"null")
        case "no-type":
            return _resigned(b'{"object": "event", "data": {"id": "user_bad"}}')
        case "data-not-object":
            return _resigned(b'{"type": "user.created", "data": ["user_bad"]}')
        case "user-without-id":
            return _resigned(json.dumps({"type": "user.updated", "data": {"object": "user", "updated_at": 1}}).encode())
        case "created-without-id":
            return _resigned(b'{"type": "user.created", "object": "event", "data": {"object": "user"}}')
        case "deleted-without-id":
            return _resigned(b'{"type": "user.deleted", "data": {"deleted": true}, "timestamp": 1700000000000}')
        case "not-utf8":
            return _resigned(b'{"type": "user.created", "data": {"id": "user_\xff"}}')
    raise AssertionError(name)


_SIGNATURE_CASES = [
    "no-headers",
    "no-id",
    "no-timestamp",
    "no-signature",
    "blank-signature",
    "timestamp-not-a-number",
    "wrong-signature",
    "malformed-signatures-only",
    "signed-by-another-secret",
    "tampered-body",
    "id-not-the-signed-one",
    "stale-5min-1s",
]
_PAYLOAD_CASES = [
    "junk-json",
    "json-array",
    "json-string",
    "json-null",
    "no-type",
    "data-not-object",
    "user-without-id",
    "created-without-id",
    "deleted-without-id",
]


@pytest.mark.parametrize("case", _SIGNATURE_CASES)
async def test_bad_signature_is_400_and_writes_nothing(svc: Service, case: str) -> None:
    """Each way a signature or its headers can be wrong is a 400 webhook-signature-invalid, and neither table gains a
    row."""
    body, headers = _case(case)
    assert_problem(await svc.deliver(body, headers), 400, "webhook-signature-invalid")
    assert await svc.counts() == (0, 0)


@pytest.mark.parametrize("case", _PAYLOAD_CASES)
async def test_unparseable_signed_body_is_400_and_writes_nothing(svc: Service, case: str) -> None:
    """A correctly signed body that is no Clerk user event is a 400 webhook-payload-invalid, and neither table gains a
    row."""
    body, headers = _case(case)
    assert_problem(await svc.deliver(body, headers), 400, "webhook-payload-invalid")
    assert await svc.counts() == (0, 0)


async def test_signed_body_that_is_not_utf8_is_400_and_writes_nothing(svc: Service) -> None:
    """A body that is not UTF-8 cannot be verified: 400 webhook-signature-invalid saying so, nothing written."""
    body, headers = _case("not-utf8")
    response = await svc.deliver(body, headers)
    assert_problem(response, 400, "webhook-signature-invalid")
    assert "not UTF-8" in response.json()["detail"]
    assert await svc.counts() == (0, 0)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(-301, False), (-300, True), (0, True), (300, True), (301, False)],
    ids=["old-5min-1s", "old-5min", "now", "new-5min", "new-5min-1s"],
)
async def test_replay_window_is_five_minutes_both_ways_to_the_second(
    svc: Service, monkeypatch: pytest.MonkeyPatch, offset: int, accepted: bool
) -> None:
    """A delivery signed up to 300 s before or after now applies; 301 s either way is refused as too old or too new."""
    now = 1_800_000_000
    pin_webhook_clock(monkeypatch, now)
    body, headers = sign_event(
        user_event("user.created", make_user_json("user_window")), SECRET, timestamp=now + offset
    )
    response = await svc.deliver(body, headers)
    if accepted:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "created"
        assert await svc.counts() == (1, 1)
    else:
        assert_problem(response, 400, "webhook-signature-invalid")
        assert ("too old" if offset < 0 else "too new") in response.json()["detail"]
        assert await svc.counts() == (0, 0)


def _padded_user_created(size: int) -> bytes:
    """A valid ``user.created`` body of exactly ``size`` bytes (padding in ``unsafe_metadata``, not stored)."""
    user = make_user_json("user_big")
    user["unsafe_metadata"] = {"pad": ""}
    base = json.dumps(user_event("user.created", user), separators=(",", ":")).encode()
    user["unsafe_metadata"] = {"pad": "x" * (size - len(base))}
    body = json.dumps(user_event("user.created", user), separators=(",", ":")).encode()
    assert len(body) == size
    return body


async def test_body_at_the_cap_is_accepted(svc: Service) -> None:
    """A body of exactly the size cap is read and applied."""
    body = _padded_user_created(DEFAULT_MAX_BODY_BYTES)
    response = await svc.deliver(body, sign_webhook(body, SECRET))
    assert response.status_code == 200, response.text
    assert await svc.counts() == (1, 1)


async def test_body_over_the_cap_is_413_and_writes_nothing(svc: Service) -> None:
    """One byte over the cap is a 413 payload-too-large, and nothing is written."""
    body = _padded_user_created(DEFAULT_MAX_BODY_BYTES + 1)
    assert_problem(await svc.deliver(body, sign_webhook(body, SECRET)), 413, "payload-too-large")
    assert await svc.counts() == (0, 0)


async def test_streamed_body_over_the_cap_without_length_is_413(svc: Service) -> None:
    """No Content-Length to trust (chunked): the cap holds while reading the stream."""
    body = _padded_user_created(DEFAULT_MAX_BODY_BYTES + 64 * 1024)
    headers = sign_webhook(body, SECRET)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await svc.client.post(WEBHOOK_PATH, content=chunks(), headers=headers)
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large")
    assert await svc.counts() == (0, 0)


@pytest.mark.parametrize("headers", ["signed", "unsigned"])
async def test_no_signing_secret_is_503_and_never_accepts(db_url: str, clerk_issuer: TokenIssuer, headers: str) -> None:
    """Without CLERK_WEBHOOK_SIGNING_SECRET nothing is accepted, signed or not: 503 so Svix keeps retrying."""
    body, signed = _signed_user_created("user_unsigned")
    async with running_service(db_url, clerk_issuer, secret=None) as svc:
        response = await svc.deliver(body, signed if headers == "signed" else {})
        assert_problem(response, 503, "webhook-signing-secret-missing")
        assert int(response.headers["retry-after"]) > 0
        assert await svc.counts() == (0, 0)


# --- header names and signature lists ----------------------------------------------------------------------


async def test_standard_webhooks_header_names_are_accepted(svc: Service) -> None:
    """The webhook-* header names work like svix-*: the delivery applies and its webhook-id is the ledger entry."""
    body, _ = _signed_user_created("user_std")
    headers = sign_webhook(body, SECRET, header_prefix="webhook")
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    response = await svc.deliver(body, headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "created", "id": headers["webhook-id"], "type": "user.created"}
    assert await svc.counts() == (1, 1)
    assert await svc.ledger_ids() == [headers["webhook-id"]]


async def test_rotated_signatures_under_the_standard_header_names(svc: Service) -> None:
    """Secret rotation also works under the ``webhook-*`` names: an old secret's signature and an unknown
    version in front of the valid one are skipped."""
    body, _ = _signed_user_created("user_std_rot")
    headers = sign_webhook(body, SECRET, header_prefix="webhook")
    old = sign_webhook(
        body, make_webhook_secret(), msg_id=headers["webhook-id"], timestamp=int(headers["webhook-timestamp"])
    )
    headers["webhook-signature"] = f"{old['svix-signature']} v2,whatever {headers['webhook-signature']}"
    response = await svc.deliver(body, headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "created"
    assert await svc.counts() == (1, 1)


@pytest.mark.parametrize("position", ["first", "middle", "last"])
async def test_one_valid_signature_among_several_is_enough(svc: Service, position: str) -> None:
    """Secret rotation: Svix sends several ``v1`` entries; garbled and other-version entries never hide the
    valid one (reference suite: ``v1,<bad> v2,<bad> v1,<valid> v1,<bad>``)."""
    body, headers = _signed_user_created("user_rot")
    valid = headers["svix-signature"]
    other = sign_webhook(
        body, make_webhook_secret(), msg_id=headers["svix-id"], timestamp=int(headers["svix-timestamp"])
    )["svix-signature"]
    noise = [other, "v2," + valid[3:], "v1,test_signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="]
    index = {"first": 0, "middle": 2, "last": len(noise)}[position]
    headers["svix-signature"] = " ".join([*noise[:index], valid, *noise[index:]])
    response = await svc.deliver(body, headers)
    assert response.status_code == 200, response.text
    assert await svc.counts() == (1, 1)


# --- mapping of the user object ----------------------------------------------------------------------------


async def test_clerk_documented_samples_apply_in_order(svc: Service) -> None:
    """Clerk's documented ``user.created``, ``user.updated`` and ``user.deleted`` samples (tests/fixtures) apply
    in that order: the created row carries the sample's names, the update clears the last name and versions the
    row by its ``updated_at``, and the deletion tombstones its user."""
    created, updated, deleted = (json.loads((FIXTURES / f"user.{kind}.json").read_text()) for kind in _SAMPLES)
    assert (await svc.post(created)).json()["status"] == "created"
    row = await svc.user("user_29w83sxmDNGwOuEthce5gg56FcC")
    assert (row.email, row.first_name, row.last_name) == ("example@example.org", "Example", "Example")
    assert (await svc.post(updated)).json()["status"] == "updated"
    row = await svc.user("user_29w83sxmDNGwOuEthce5gg56FcC")
    assert row.last_name is None
    assert row.clerk_version == 1654012824306
    assert (await svc.post(deleted)).json()["status"] == "deleted"
    assert (await svc.user("user_29wBMCtzATuFJut8jO2VNTVekS4")).deleted_at is not None
    assert await svc.counts() == (2, 3)


@pytest.mark.parametrize("opt_in", [False, True], ids=["private-default", "private-opt-in"])
async def test_user_fields_are_mapped(db_url: str, clerk_issuer: TokenIssuer, opt_in: bool) -> None:
    """Primary email through ``primary_email_address_id`` (not the first address), public metadata stored,
    private metadata only when the app opts in; the version is ``data.updated_at``, not the envelope time."""
    user = make_user_json(
        "user_map",
        email="first@example.com",
        public_metadata={"plan": "pro"},
        private_metadata={"stripe": "cus_1"},
        updated_at=1_700_000_000_123,
    )
    user["email_addresses"].append(
        {"id": "idn_primary", "object": "email_address", "email_address": "primary@example.com", "linked_to": []}
    )
    user["primary_email_address_id"] = "idn_primary"
    async with running_service(db_url, clerk_issuer, include_private_metadata=opt_in) as svc:
        response = await svc.post(user_event("user.created", user, timestamp=1_700_000_009_999))
        assert response.status_code == 200, response.text
        row = await svc.user("user_map")
        assert row.email == "primary@example.com"
        assert (row.first_name, row.last_name) == ("Example", "User")
        assert row.public_metadata == {"plan": "pro"}
        assert row.private_metadata == ({"stripe": "cus_1"} if opt_in else None)
        assert row.clerk_version == 1_700_000_000_123
        assert row.deleted_at is None


# --- exactly once ------------------------------------------------------------------------------------------


async def test_duplicate_delivery_applies_once(svc: Service) -> None:
    """Svix retries keep the svix-id but re-sign with a new timestamp: the second and third delivery are
    answered 200 ``duplicate``, the row is not written again, and the ledger holds one row."""
    body, _ = sign_event(user_event("user.created", make_user_json("user_dup")), SECRET)
    now = int(time.time())
    statuses = []
    for sent_at in (now - 120, now - 60, now):
        response = await svc.deliver(body, sign_webhook(body, SECRET, msg_id="msg_dup", timestamp=sent_at))
        assert response.status_code == 200, response.text
        statuses.append(response.json()["status"])
        if sent_at == now - 120:
            first = await svc.user("user_dup")
    assert statuses == ["created", "duplicate", "duplicate"]
    assert await svc.counts() == (1, 1)
    assert await svc.ledger_ids() == ["msg_dup"]
    again = await svc.user("user_dup")
    assert (again.updated_at, again.clerk_version) == (first.updated_at, first.clerk_version)


async def test_concurrent_duplicates_apply_once(svc: Service) -> None:
    """Five concurrent deliveries of one message: all 200, one created and four duplicates, one row and one ledger
    entry."""
    body, headers = sign_event(user_event("user.created", make_user_json("user_cdup")), SECRET, msg_id="msg_cdup")
    responses = await asyncio.gather(*(svc.deliver(body, headers) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5
    assert sorted(r.json()["status"] for r in responses) == ["created"] + ["duplicate"] * 4
    assert await svc.counts() == (1, 1)


async def test_duplicate_under_the_other_header_names_is_still_a_duplicate(svc: Service) -> None:
    """The idempotency key is the message id, whichever header family carried it."""
    body, headers = sign_event(user_event("user.created", make_user_json("user_fam")), SECRET, msg_id="msg_fam")
    assert (await svc.deliver(body, headers)).json()["status"] == "created"
    standard = sign_webhook(body, SECRET, msg_id="msg_fam", header_prefix="webhook")
    response = await svc.deliver(body, standard)
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    assert await svc.counts() == (1, 1)


# --- order does not matter ---------------------------------------------------------------------------------

BASE = 1_700_000_000_000


def _lifecycle() -> dict[str, dict[str, Any]]:
    created = make_user_json("user_perm", email="v1@example.com", first_name="One", created_at=BASE, updated_at=BASE)
    updated = make_user_json(
        "user_perm", email="v2@example.com", first_name="Two", created_at=BASE, updated_at=BASE + 1000
    )
    return {
        "created": user_event("user.created", created),
        "updated": user_event("user.updated", updated),
        "deleted": deleted_event("user_perm", timestamp=BASE + 2000),
    }


@pytest.mark.parametrize(
    "order", list(itertools.permutations(["created", "updated", "deleted"])), ids=lambda order: "-".join(order)
)
async def test_every_order_of_created_updated_deleted_ends_deleted(svc: Service, order: tuple[str, ...]) -> None:
    """Whatever order created, updated and deleted arrive in, the user ends tombstoned at the deletion's version."""
    events = _lifecycle()
    for index, kind in enumerate(order):
        response = await svc.post(events[kind], msg_id=f"msg_{index}_{kind}")
        assert response.status_code == 200, response.text
    row = await svc.user("user_perm")
    assert row.deleted_at is not None
    assert row.clerk_version == BASE + 2000
    assert await svc.counts() == (1, 3)


@pytest.mark.parametrize(
    "order",
    [*itertools.permutations(["created", "updated"]), *itertools.permutations(["created", "updated", "newer"])],
    ids=lambda order: "-".join(order),
)
async def test_every_order_of_versions_ends_with_the_newest(svc: Service, order: tuple[str, ...]) -> None:
    """Whatever order the versions of a user arrive in, the row ends with the newest one's fields."""
    events = _lifecycle()
    newer = make_user_json(
        "user_perm",
        email="v3@example.com",
        first_name="Three",
        public_metadata={"v": 3},
        created_at=BASE,
        updated_at=BASE + 3000,
    )
    events["newer"] = user_event("user.updated", newer)
    newest = "newer" if "newer" in order else "updated"
    for kind in order:
        assert (await svc.post(events[kind])).status_code == 200
    row = await svc.user("user_perm")
    expected = {"updated": ("v2@example.com", "Two", BASE + 1000), "newer": ("v3@example.com", "Three", BASE + 3000)}
    assert (row.email, row.first_name, row.clerk_version) == expected[newest]
    assert row.deleted_at is None
    assert await svc.counts() == (1, len(order))


async def test_update_newer_than_the_deletion_never_resurrects(svc: Service) -> None:
    """Deletion is final: even an update whose ``updated_at`` is later than the deletion event is refused."""
    deleted = await svc.post(deleted_event("user_gone", timestamp=BASE))
    assert deleted.json()["status"] == "deleted"
    late = make_user_json("user_gone", first_name="Zombie", updated_at=BASE + 60_000)
    for kind in ("user.created", "user.updated"):
        response = await svc.post(user_event(kind, late))
        assert response.status_code == 200
        assert response.json()["status"] == "deleted"
    row = await svc.user("user_gone")
    assert row.deleted_at is not None
    assert row.first_name is None
    assert await svc.counts() == (1, 3)


async def test_deletion_with_a_seconds_timestamp_applies(svc: Service) -> None:
    """Clerk's OpenAPI examples show 10-digit (seconds) event timestamps; they version like milliseconds."""
    assert (await svc.post(user_event("user.created", make_user_json("user_sec", updated_at=BASE)))).status_code == 200
    response = await svc.post(deleted_event("user_sec", timestamp=BASE // 1000 + 5))
    assert response.json()["status"] == "deleted"
    row = await svc.user("user_sec")
    assert row.deleted_at is not None
    assert row.clerk_version == BASE + 5000


# --- the request path and the webhook path meet ------------------------------------------------------------


async def test_request_racing_user_created_makes_one_row(svc: Service, clerk_issuer: TokenIssuer) -> None:
    """The first request after sign-up and the ``user.created`` webhook for the same new user, concurrently,
    20 times: every request and every delivery succeeds and each user has exactly one row."""
    users = 20
    for n in range(users):
        sub = f"user_race_{n}"
        email = f"{sub}@example.com"
        token = clerk_issuer.mint(sub, claims={"email": email, "first_name": "Racer"})
        me, hook = await asyncio.gather(
            svc.client.get("/me", headers={"Authorization": f"Bearer {token}"}),
            svc.post(user_event("user.created", make_user_json(sub, email=email, first_name="Racer"))),
        )
        assert me.status_code == 200, me.text
        assert me.json()["clerk_id"] == sub
        assert hook.status_code == 200, hook.text
        assert hook.json()["status"] in {"created", "updated", "unchanged", "stale"}
        row = await svc.user(sub)
        assert (row.email, row.first_name, row.deleted_at) == (email, "Racer", None)
    assert await svc.counts() == (users, users)


async def test_request_racing_user_deleted_never_resurrects(svc: Service, clerk_issuer: TokenIssuer) -> None:
    """A first request racing the user.deleted webhook never leaves a live row: the user ends deleted and is refused
    after."""
    for n in range(10):
        sub = f"user_gone_{n}"
        token = clerk_issuer.mint(sub, claims={"email": f"{sub}@example.com"})
        me, hook = await asyncio.gather(
            svc.client.get("/me", headers={"Authorization": f"Bearer {token}"}),
            svc.post(deleted_event(sub, timestamp=now_ms())),
        )
        assert hook.status_code == 200, hook.text
        assert me.status_code in {200, 401}, me.text
        assert (await svc.user(sub)).deleted_at is not None
        after = await svc.client.get("/me", headers={"Authorization": f"Bearer {clerk_issuer.mint(sub)}"})
        assert_problem(after, 401, "user-deleted")
    assert await svc.counts() == (10, 10)


async def test_deleted_users_token_is_401_user_deleted(svc: Service, clerk_issuer: TokenIssuer) -> None:
    """After user.deleted the user's tokens, even one minted later, are 401 user-deleted; the row stays as it was."""
    token = clerk_issuer.mint("user_del", claims={"email": "del@example.com"})
    auth = {"Authorization": f"Bearer {token}"}
    assert (await svc.client.get("/me", headers=auth)).status_code == 200
    assert (await svc.post(deleted_event("user_del", timestamp=now_ms()))).json()["status"] == "deleted"
    response = await svc.client.get("/me", headers=auth)
    assert_problem(response, 401, "user-deleted")
    assert response.headers["www-authenticate"].startswith("Bearer")
    # A token minted after the deletion (newer iat) changes nothing.
    fresh = clerk_issuer.mint("user_del", claims={"email": "back@example.com"})
    assert_problem(await svc.client.get("/me", headers={"Authorization": f"Bearer {fresh}"}), 401, "user-deleted")
    row = await svc.user("user_del")
    assert (row.email, row.deleted_at is not None) == ("del@example.com", True)
    assert await svc.counts() == (1, 1)


# --- ignored types and readiness ---------------------------------------------------------------------------


async def test_ignored_event_type_is_2xx_and_touches_no_table(svc: Service) -> None:
    """Types we do not sync are acknowledged (Svix stops retrying) and leave both tables alone; they still
    need a valid signature."""
    session_event = {"type": "session.created", "object": "event", "data": {"id": "sess_1", "user_id": "user_x"}}
    response = await svc.post(session_event, msg_id="msg_ignored")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ignored", "id": "msg_ignored", "type": "session.created"}
    again = await svc.post(session_event, msg_id="msg_ignored")
    assert again.json()["status"] == "ignored"
    assert await svc.counts() == (0, 0)
    body, headers = sign_event(session_event, make_webhook_secret())
    assert_problem(await svc.deliver(body, headers), 400, "webhook-signature-invalid")


async def test_readyz_reports_the_age_of_the_last_processed_webhook(svc: Service) -> None:
    """``last_webhook_age_s`` is null until a webhook is applied, then a small number (also when the server's
    local zone is not UTC: the stored time must not be read as local time). Refusals and ignored types do not
    count as processed."""
    zone = os.environ.get("TZ")
    os.environ["TZ"] = "Asia/Kathmandu"  # UTC+05:45: an off-by-zone bug cannot hide in it
    time.tzset()
    try:
        ready = await svc.client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["signing_keys"] == "ok"
        assert ready.json()["last_webhook_age_s"] is None
        await svc.post({"type": "session.created", "object": "event", "data": {"id": "sess_1"}})
        body, headers = _case("wrong-signature")
        await svc.deliver(body, headers)
        assert (await svc.client.get("/readyz")).json()["last_webhook_age_s"] is None
        assert (await svc.post(user_event("user.created", make_user_json("user_ready")))).status_code == 200
        ready = await svc.client.get("/readyz")
        assert ready.status_code == 200
        age = ready.json()["last_webhook_age_s"]
        assert isinstance(age, int | float)
        assert 0 <= age < 60
    finally:
        if zone is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = zone
        time.tzset()


# --- the database fails in the middle of an event ----------------------------------------------------------


def _limit_sqlite_growth(svc: Service) -> dict[str, bool]:
    """While ``state["full"]``, every connection the app checks out may not grow the file by a single page
    (``PRAGMA max_page_count``): SQLite answers SQLITE_FULL, as on a full disk."""
    state = {"full": False}

    def on_checkout(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA max_page_count = " + ("1" if state["full"] else "1073741823"))
        finally:
            cursor.close()

    sa_event.listen(svc.app.state.clerk_sync.store.engine.sync_engine, "checkout", on_checkout)
    return state


async def test_sqlite_disk_full_mid_event_is_503_then_the_retry_applies(
    tmp_path: Path, clerk_issuer: TokenIssuer
) -> None:
    """The ledger row fits in its table's existing page, the user's large metadata does not: the failure hits
    after the ledger insert, inside the event's transaction. 503, neither row committed; after space is back
    the same delivery (same svix-id, same bytes) applies."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'full.db'}"
    async with running_service(url, clerk_issuer) as svc:
        state = _limit_sqlite_growth(svc)
        user = make_user_json("user_full", public_metadata={"blob": "x" * 200_000})
        body, headers = sign_event(user_event("user.created", user), SECRET, msg_id="msg_full")
        state["full"] = True
        failed = await svc.deliver(body, headers)
        assert_problem(failed, 503, "database-unavailable")
        assert int(failed.headers["retry-after"]) > 0
        assert await svc.counts() == (0, 0)
        assert await svc.ledger_ids() == []
        state["full"] = False
        retried = await svc.deliver(body, headers)
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "created"
        assert await svc.counts() == (1, 1)
        assert (await svc.user("user_full")).public_metadata == {"blob": "x" * 200_000}


async def test_sqlite_locked_past_busy_timeout_is_503_then_the_retry_applies(
    tmp_path: Path, clerk_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite locked by another writer past busy_timeout: 503 and nothing recorded; the same delivery then applies."""
    import sqlite3

    monkeypatch.setattr("clerk_sync.db.engine.SQLITE_BUSY_TIMEOUT_MS", 300)
    path = tmp_path / "locked.db"
    async with running_service(f"sqlite+aiosqlite:///{path}", clerk_issuer) as svc:
        body, headers = sign_event(user_event("user.created", make_user_json("user_lock")), SECRET, msg_id="msg_lock")
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            started = time.perf_counter()
            failed = await svc.deliver(body, headers)
            assert time.perf_counter() - started < SVIX_RESPONSE_LIMIT_S
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert_problem(failed, 503, "database-unavailable")
        assert await svc.counts() == (0, 0)
        retried = await svc.deliver(body, headers)
        assert retried.status_code == 200, retried.text
        assert await svc.counts() == (1, 1)


async def _wait_for_lock_waiter(admin: asyncpg.Connection, database: str) -> int:
    """The pid of the app's backend once it waits on a lock in ``database``, having already written the ledger
    row in its (uncommitted) transaction."""
    for _ in range(500):
        pid = await admin.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", database
        )
        if pid is not None:
            holds_ledger = await admin.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid = $1 AND c.relname = 'clerk_webhook_events' AND l.mode = 'RowExclusiveLock'",
                pid,
            )
            assert holds_ledger, "the app should have inserted the ledger row before blocking"
            return int(pid)
        await asyncio.sleep(0.02)
    raise AssertionError("the webhook never reached the locked users table")


@pytest.mark.postgres
@pytest.mark.parametrize("failure", ["backend-terminated", "network-cut"])
async def test_postgres_failure_mid_event_is_503_then_the_retry_applies(
    clerk_issuer: TokenIssuer, failure: str
) -> None:
    """The webhook's transaction has inserted its ledger row and waits on the users table (locked by another
    session) when its connection dies: the server terminates the backend, or the network to PostgreSQL is
    cut (a TCP proxy; the real server keeps running). 503 database-unavailable, the svix-id is not in the
    ledger, no user row; once the database is reachable the same delivery is answered 200 and applied."""
    proxy = await TcpProxy().start()
    try:
        async with temporary_postgres_database() as direct:
            database = make_url(direct).database
            assert database is not None
            via_proxy = make_url(direct).set(port=proxy.port).render_as_string(hide_password=False)
            admin_dsn = make_url(direct).set(drivername="postgresql").render_as_string(hide_password=False)
            async with running_service(via_proxy, clerk_issuer, direct_url=direct) as svc:
                body, headers = sign_event(
                    user_event("user.created", make_user_json("user_mid")), SECRET, msg_id="msg_mid"
                )
                locker = await asyncpg.connect(admin_dsn)
                admin = await asyncpg.connect(admin_dsn)
                try:
                    locker_tx = locker.transaction()
                    await locker_tx.start()
                    await locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                    delivery = asyncio.create_task(svc.deliver(body, headers))
                    pid = await _wait_for_lock_waiter(admin, database)
                    if failure == "backend-terminated":
                        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
                    else:
                        await proxy.cut()
                    failed = await asyncio.wait_for(delivery, SVIX_RESPONSE_LIMIT_S)
                    await locker_tx.rollback()
                finally:
                    await locker.close()
                    await admin.close()
                assert_problem(failed, 503, "database-unavailable")
                assert await svc.counts() == (0, 0)
                assert await svc.ledger_ids() == []
                if failure == "network-cut":
                    await proxy.restore()
                retried = await svc.deliver(body, headers)
                assert retried.status_code == 200, retried.text
                assert retried.json()["status"] == "created"
                assert await svc.counts() == (1, 1)
                assert await svc.ledger_ids() == ["msg_mid"]
    finally:
        await proxy.cut()


@pytest.mark.postgres
async def test_postgres_row_lock_held_elsewhere_is_answered_within_svix_limit(clerk_issuer: TokenIssuer) -> None:
    """Another transaction holds the user's row (a stuck backfill, an admin session): the webhook must still be
    answered well within Svix's 15 s, a 503 that leaves nothing recorded, so Svix retries later."""
    async with temporary_postgres_database() as url:
        admin_dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        async with running_service(url, clerk_issuer) as svc:
            first = make_user_json("user_held", first_name="Before", updated_at=BASE)
            assert (await svc.post(user_event("user.created", first))).status_code == 200
            locker = await asyncpg.connect(admin_dsn)
            try:
                locker_tx = locker.transaction()
                await locker_tx.start()
                await locker.execute("SELECT 1 FROM users WHERE clerk_id = 'user_held' FOR UPDATE")
                later = make_user_json("user_held", first_name="After", updated_at=BASE + 1000)
                started = time.perf_counter()
                try:
                    response = await asyncio.wait_for(
                        svc.post(user_event("user.updated", later), msg_id="msg_held"), SVIX_RESPONSE_LIMIT_S
                    )
                except TimeoutError:
                    pytest.fail(f"no answer within Svix's {SVIX_RESPONSE_LIMIT_S:.0f} s while a row lock was held")
                elapsed = time.perf_counter() - started
                await locker_tx.rollback()
            finally:
                await locker.close()
            assert elapsed < SVIX_RESPONSE_LIMIT_S
            assert_problem(response, 503, "database-unavailable")
            assert "msg_held" not in await svc.ledger_ids()
            assert await svc.counts() == (1, 1)
            assert (await svc.user("user_held")).first_name == "Before"
