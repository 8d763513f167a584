"""The Backend API client against the fake Clerk server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from clerk_sync.backend_api import API_VERSION, BackendAPI, PageKey, Paging
from clerk_sync.errors import BackendAPIError, ConfigurationError
from clerk_sync.profile import Source
from clerk_sync.testing.backend import FakeClerkBackend, make_user_json
from tests.support import Sleeps

BASE_MS = 1_700_000_000_000


def _users(count: int) -> list[dict[str, Any]]:
    return [make_user_json(f"user_{i:05d}", email=f"u{i}@example.org", created_at=BASE_MS + i) for i in range(count)]


@pytest.fixture
async def clerk() -> AsyncIterator[FakeClerkBackend]:
    async with FakeClerkBackend(users=_users(3)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _api(
    http: httpx.AsyncClient, clerk: FakeClerkBackend, sleeps: Sleeps, *, key: str | None = None, **knobs: Any
) -> BackendAPI:
    return BackendAPI(http, key or clerk.secret_key, api_url=clerk.url, sleep=sleeps, **knobs)


@pytest.mark.anyio
async def test_get_user_sends_the_key_and_a_user_agent(http, clerk, sleeps) -> None:
    """get_user asks for /v1/users/<id> with the secret key as a bearer token and a clerk-sync User-Agent."""
    user = await _api(http, clerk, sleeps).get_user("user_00001")
    assert user is not None
    assert user["id"] == "user_00001"
    (request,) = clerk.requests
    assert request.path == "/v1/users/user_00001"
    assert request.headers["authorization"] == f"Bearer {clerk.secret_key}"
    assert request.headers["user-agent"].startswith("clerk-sync")


@pytest.mark.anyio
async def test_unknown_user_is_none(http, clerk, sleeps) -> None:
    """A 404 from get_user means "no such user": None, and no retry."""
    assert await _api(http, clerk, sleeps).get_user("user_missing") is None
    assert sleeps.calls == []


@pytest.mark.anyio
async def test_user_id_is_escaped_into_one_path_segment(http, clerk, sleeps) -> None:
    """A user id cannot reach another endpoint: it is percent-encoded into a single path segment."""
    assert await _api(http, clerk, sleeps).get_user("../users/count?x=1") is None
    assert clerk.requests[0].path == "/v1/users/..%2Fusers%2Fcount%3Fx%3D1"


@pytest.mark.anyio
async def test_get_user_profile_maps_like_a_webhook(http, clerk, sleeps) -> None:
    """get_user_profile maps Clerk's user JSON as the webhook path does (source API, version updated_at); None when
    unknown."""
    profile = await _api(http, clerk, sleeps).get_user_profile("user_00002")
    assert profile is not None
    assert profile.source is Source.API
    assert profile.version == BASE_MS + 2
    assert profile.fields["email"] == "u2@example.org"
    assert await _api(http, clerk, sleeps).get_user_profile("user_missing") is None


@pytest.mark.anyio
async def test_count_users(http, clerk, sleeps) -> None:
    """count_users returns the number Clerk reports."""
    assert await _api(http, clerk, sleeps).count_users() == 3


@pytest.mark.anyio
@pytest.mark.parametrize("paging", ["offset", "cursor"])
async def test_paging_yields_every_user_exactly_once_oldest_first(http, sleeps, paging) -> None:
    """Paging (offset or cursor) yields each of 2 500 users once, oldest first, and an empty page ends it."""
    async with FakeClerkBackend(users=_users(2500)) as clerk:
        api = _api(http, clerk, sleeps)
        pages = [page async for page in api.iter_user_pages(500, paging=paging)]
    ids = [user["id"] for page in pages for user in page]
    assert [len(page) for page in pages] == [500] * 5
    assert ids == [f"user_{i:05d}" for i in range(2500)]
    # 5 full pages, then one empty page proves the end.
    assert len(clerk.requests) == 6
    assert all(r.query["limit"] == ["500"] and r.query["order_by"] == ["+created_at"] for r in clerk.requests)


@pytest.mark.anyio
async def test_paging_stops_after_a_short_page(http, sleeps) -> None:
    """A page shorter than the limit is the last one: no further request is made."""
    async with FakeClerkBackend(users=_users(1203)) as clerk:
        pages = [page async for page in _api(http, clerk, sleeps).iter_user_pages(500, paging="offset")]
    assert [len(page) for page in pages] == [500, 500, 203]
    assert [r.query["offset"] for r in clerk.requests] == [["0"], ["500"], ["1000"]]


@pytest.mark.anyio
async def test_created_at_paging_asks_past_the_newest_millisecond_read(http, sleeps) -> None:
    """The default walk asks ``created_at_after=<newest read> - 1`` with the version header, drops the one user
    read twice at the boundary, yields each user once, and stops after a short page."""
    async with FakeClerkBackend(users=_users(1203)) as clerk:
        pages = [page async for page in _api(http, clerk, sleeps).iter_user_pages()]
    ids = [user["id"] for page in pages for user in page]
    assert ids == [f"user_{i:05d}" for i in range(1203)]
    assert [len(page) for page in pages] == [500, 499, 204]
    assert [r.query.get("created_at_after") for r in clerk.requests] == [
        None,
        [str(BASE_MS + 499 - 1)],
        [str(BASE_MS + 998 - 1)],
    ]
    assert all("offset" not in r.query and r.query["order_by"] == ["+created_at"] for r in clerk.requests)
    assert {r.headers["clerk-api-version"] for r in clerk.requests} == {API_VERSION}


@pytest.mark.anyio
async def test_created_at_paging_splits_a_crowded_millisecond(http, sleeps) -> None:
    """1 100 users created in one millisecond (a bulk import) are still each yielded exactly once."""
    users = [make_user_json(f"user_{i:05d}", created_at=BASE_MS) for i in range(1100)]
    users += [make_user_json("user_later", created_at=BASE_MS + 1)]
    async with FakeClerkBackend(users=users) as clerk:
        ids = [user["id"] async for page in _api(http, clerk, sleeps).iter_user_pages(500) for user in page]
    assert sorted(ids) == sorted(user["id"] for user in users)
    assert len(ids) == len(set(ids))


@pytest.mark.anyio
async def test_created_at_paging_resumes_after_a_key(http, sleeps) -> None:
    """``after`` starts past a page key: the users up to it are not requested again."""
    async with FakeClerkBackend(users=_users(10)) as clerk:
        api = _api(http, clerk, sleeps)
        start = PageKey(BASE_MS + 3, frozenset({"user_00003"}))
        keyed = [(page, key) async for page, key in api.iter_keyed_user_pages(4, after=start)]
    assert [[user["id"] for user in page] for page, _ in keyed] == [
        ["user_00004", "user_00005", "user_00006"],  # the fourth place holds user_00003, read before
        ["user_00007", "user_00008", "user_00009"],
    ]
    assert keyed[-1][1] == PageKey(BASE_MS + 9, frozenset({"user_00009"}))
    assert clerk.requests[0].query["created_at_after"] == [str(BASE_MS + 2)]


@pytest.mark.anyio
@pytest.mark.parametrize(("paging", "skips"), [("offset", True), ("created_at", False)])
async def test_deletions_during_paging_skip_no_one_only_with_created_at(
    http, sleeps, paging: Paging, skips: bool
) -> None:
    """Deleting already-read users and signing up new ones between pages makes offset paging skip users that
    existed all along; the created_at walk yields every one of them exactly once."""
    users = _users(100)
    deleted = iter(range(100))

    def churn(number: int) -> None:
        if number > 1:  # after the first page: delete two users already read, sign one up
            backend.remove_user(f"user_{next(deleted):05d}")
            backend.remove_user(f"user_{next(deleted):05d}")
            backend.add_user(make_user_json(f"user_new_{number}", created_at=BASE_MS + 1000 + number))

    async with FakeClerkBackend(users=users, on_list=churn) as backend:
        ids = [
            user["id"] async for page in _api(http, backend, sleeps).iter_user_pages(10, paging=paging) for user in page
        ]
    survivors = {user["id"] for user in backend.users if not user["id"].startswith("user_new_")}
    assert len(ids) == len(set(ids))
    assert survivors.issubset(ids) is not skips


@pytest.mark.anyio
async def test_sign_ups_during_offset_paging_do_not_shift_pages(http, sleeps) -> None:
    """Users signing up while pages are read neither repeat nor hide the users that existed before."""
    async with FakeClerkBackend(users=_users(10)) as clerk:
        seen: list[str] = []
        async for page in _api(http, clerk, sleeps).iter_user_pages(4):
            seen += [user["id"] for user in page]
            clerk.add_user(make_user_json(f"user_new_{len(seen)}", created_at=BASE_MS + 10_000 + len(seen)))
    assert seen[:10] == [f"user_{i:05d}" for i in range(10)]
    assert len(seen) == len(set(seen))


@pytest.mark.anyio
async def test_page_size_is_validated(http, clerk, sleeps) -> None:
    """A page size above Clerk's maximum of 500 is refused before any request."""
    with pytest.raises(ValueError, match="page_size"):
        [page async for page in _api(http, clerk, sleeps).iter_user_pages(501)]


@pytest.mark.anyio
async def test_a_server_that_ignores_the_cursor_is_detected(http, sleeps) -> None:
    """A cursor that does not advance (the same page again) is a BackendAPIError, not an endless loop."""
    users = _users(4)
    # order_by is honoured but starting_after is "ignored": answer every page request with the first page.
    async with FakeClerkBackend(users=users) as clerk:
        api = _api(http, clerk, sleeps)
        first_page = sorted(users, key=lambda u: u["created_at"])[:2]
        clerk.fail(status=200, on_request=2, body=json.dumps(first_page).encode())
        with pytest.raises(BackendAPIError, match="not advancing"):
            [page async for page in api.iter_user_pages(2, paging="cursor")]


@pytest.mark.anyio
async def test_rate_limit_and_server_error_are_retried(http, sleeps) -> None:
    """A 429 (waiting its Retry-After) and a 500 are retried, and the paging still yields every user once."""
    async with FakeClerkBackend(users=_users(1200)) as clerk:
        clerk.fail(429, on_request=2, retry_after=7)
        clerk.fail(500, on_request=4)
        api = _api(http, clerk, sleeps, base_delay=0.5)
        ids = [user["id"] async for page in api.iter_user_pages(500) for user in page]
    assert ids == [f"user_{i:05d}" for i in range(1200)]
    assert clerk.request_count == 3 + 2
    assert sleeps.calls[0] == 7.0
    assert 0.25 <= sleeps.calls[1] <= 0.5
    assert len(sleeps.calls) == 2


@pytest.mark.anyio
async def test_retry_after_is_capped(http, clerk, sleeps) -> None:
    """A Retry-After longer than max_delay is waited for max_delay only."""
    clerk.fail(429, retry_after=3600)
    assert await _api(http, clerk, sleeps, max_delay=20).count_users() == 3
    assert sleeps.calls == [20]


@pytest.mark.anyio
async def test_503_retry_after_http_date_is_honoured(http, clerk, sleeps) -> None:
    """A Retry-After given as an HTTP date is honoured; a date in the past retries at once."""
    clerk.fail(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")  # in the past: retry at once
    assert await _api(http, clerk, sleeps).count_users() == 3
    assert sleeps.calls == [0.0]


@pytest.mark.anyio
async def test_backoff_grows_exponentially_and_gives_up(http, clerk, sleeps, caplog) -> None:
    """Without Retry-After the delays double up to max_delay, and after max_attempts the error names the attempts."""
    for number in range(1, 5):
        clerk.fail(502, on_request=number)
    api = _api(http, clerk, sleeps, max_attempts=4, base_delay=1.0, max_delay=3.0)
    with caplog.at_level(logging.WARNING), pytest.raises(BackendAPIError) as caught:
        await api.count_users()
    assert caught.value.status_code == 502
    assert "after 4 attempts" in str(caught.value)
    assert clerk.request_count == 4
    assert len(sleeps.calls) == 3
    for delay, ceiling in zip(sleeps.calls, [1.0, 2.0, 3.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert clerk.secret_key not in caplog.text
    assert clerk.secret_key not in str(caught.value)


@pytest.mark.anyio
async def test_dropped_connection_is_retried(http, clerk, sleeps) -> None:
    """A connection dropped mid-request is retried once and then succeeds."""
    clerk.fail(None, disconnect=True)
    assert await _api(http, clerk, sleeps).count_users() == 3
    assert len(sleeps.calls) == 1


@pytest.mark.anyio
async def test_timeout_is_retried_then_reported(http, clerk, sleeps) -> None:
    """A read timeout is retried; when every attempt times out the error names it and carries no status."""
    clerk.fail(None, on_request=1, delay=0.5)
    clerk.fail(None, on_request=2, delay=0.5)
    api = _api(http, clerk, sleeps, timeout=0.05, max_attempts=2)
    with pytest.raises(BackendAPIError, match="ReadTimeout") as caught:
        await api.count_users()
    assert caught.value.status_code is None


@pytest.mark.anyio
async def test_unreachable_server_is_a_backend_error(http, sleeps) -> None:
    """A server that is not listening becomes a BackendAPIError naming the connect error."""
    async with FakeClerkBackend() as clerk:
        url = clerk.url
    api = BackendAPI(http, "sk_test_x", api_url=url, sleep=sleeps, max_attempts=2)
    with pytest.raises(BackendAPIError, match="ConnectError"):
        await api.get_user("user_1")


@pytest.mark.anyio
async def test_wrong_key_is_401_without_retry(http, clerk, sleeps) -> None:
    """A refused key is reported at once (one request, no retry) with Clerk's error code and without the key."""
    api = _api(http, clerk, sleeps, key="sk_test_wrong")
    with pytest.raises(BackendAPIError) as caught:
        await api.get_user("user_00001")
    assert caught.value.status_code == 401
    assert "authentication_invalid" in str(caught.value)
    assert "sk_test_wrong" not in str(caught.value)
    assert clerk.request_count == 1
    assert sleeps.calls == []


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 403, 422])
async def test_other_client_errors_are_not_retried(http, clerk, sleeps, status) -> None:
    """Other 4xx answers are reported with their status after one request."""
    clerk.fail(status)
    with pytest.raises(BackendAPIError) as caught:
        await _api(http, clerk, sleeps).count_users()
    assert caught.value.status_code == status
    assert clerk.request_count == 1


@pytest.mark.anyio
async def test_404_outside_get_user_is_an_error(http, clerk, sleeps) -> None:
    """A 404 is only "no such user" for get_user; anywhere else it is an error."""
    clerk.fail(404)
    with pytest.raises(BackendAPIError) as caught:
        await _api(http, clerk, sleeps).count_users()
    assert caught.value.status_code == 404


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "call"),
    [
        (b"<html>oops</html>", "count_users"),
        (b"{not json", "get_user"),
        (b'{"errors": []}', "count_users"),
        (b"[1, 2]", "get_user"),
        (b'{"id": "user_1"}', "iter_user_pages"),
        (b'[{"no_id": 1}]', "iter_user_pages"),
    ],
)
async def test_malformed_success_body_is_a_backend_error(http, clerk, sleeps, body, call) -> None:
    """A 200 whose body is not the expected JSON shape is a BackendAPIError on every call."""
    clerk.fail(200, body=body)
    api = _api(http, clerk, sleeps)
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "count_users": api.count_users,
        "get_user": lambda: api.get_user("user_00001"),
        "iter_user_pages": lambda: _collect(api.iter_user_pages()),
    }
    with pytest.raises(BackendAPIError):
        await calls[call]()


async def _collect(pages: AsyncIterator[list[Any]]) -> list[list[Any]]:
    return [page async for page in pages]


@pytest.mark.anyio
async def test_unusable_user_object_is_a_backend_error(http, clerk, sleeps) -> None:
    """A user object without a usable updated_at is refused as unusable, not stored with a made-up version."""
    clerk.fail(200, body=b'{"id": "user_1", "updated_at": null}')
    with pytest.raises(BackendAPIError, match="unusable user"):
        await _api(http, clerk, sleeps).get_user_profile("user_1")


def test_empty_secret_key_is_a_configuration_error() -> None:
    """A blank secret key is a configuration error naming CLERK_SECRET_KEY, raised at construction."""
    with pytest.raises(ConfigurationError, match="CLERK_SECRET_KEY"):
        BackendAPI(httpx.AsyncClient(), " ")


def test_repr_never_shows_the_key() -> None:
    """The client's repr never includes the secret key."""
    client = httpx.AsyncClient()
    assert "sk_live_secret" not in repr(BackendAPI(client, "sk_live_secret"))


# -- the fake itself -----------------------------------------------------------------------------------------


def test_fake_serves_sync_tests_and_clerk_paging_rules() -> None:
    """The fake Backend API also serves synchronous clients and follows Clerk's paging rules (newest first by default,
    limit at most 500, cursors)."""
    with FakeClerkBackend(users=_users(5)) as clerk:
        headers = {"Authorization": f"Bearer {clerk.secret_key}"}
        with httpx.Client(base_url=clerk.url, headers=headers) as client:
            newest_first = client.get("/v1/users", params={"limit": 2}).json()
            assert [u["id"] for u in newest_first] == ["user_00004", "user_00003"]
            assert client.get("/v1/users", params={"limit": 501}).status_code == 422
            cursor: dict[str, str | int] = {"limit": 2, "starting_after": "user_00001", "order_by": "+created_at"}
            assert [u["id"] for u in client.get("/v1/users", params=cursor).json()] == [
                "user_00002",
                "user_00003",
            ]
            assert client.get("/v1/users", params={**cursor, "offset": 2}).status_code == 422
            assert client.get("/v1/users", params={**cursor, "order_by": "-updated_at"}).status_code == 422
            window: dict[str, str | int] = {"limit": 10, "order_by": "+created_at", "created_at_after": BASE_MS + 1}
            assert [u["id"] for u in client.get("/v1/users", params=window).json()] == [
                "user_00002",
                "user_00003",
                "user_00004",
            ]
            window["created_at_before"] = BASE_MS + 4
            assert [u["id"] for u in client.get("/v1/users", params=window).json()] == ["user_00002", "user_00003"]
            assert client.get("/v1/users/count").json() == {"object": "total_count", "total_count": 5}
            assert client.get("/v1/jwks").json() == {"keys": []}
            clerk.remove_user("user_00000")
            missing = client.get("/v1/users/user_00000")
            assert missing.status_code == 404
            assert missing.json()["errors"][0]["code"] == "resource_not_found"
            assert client.get("/v1/users", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert clerk.request_count == 11
