"""``SyncBackendAPI``: the same policy as the async client, on ``httpx.Client``, against the fake Clerk server."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from clerk_sync.backend_api import SyncBackendAPI
from clerk_sync.errors import BackendAPIError
from clerk_sync.profile import Source
from clerk_sync.testing.backend import FakeClerkBackend, make_user_json

BASE_MS = 1_700_000_000_000


class BlockingSleeps:
    """Records the delays the client asked for, without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def clerk() -> Iterator[FakeClerkBackend]:
    users = [make_user_json(f"user_{i}", email=f"u{i}@example.org", created_at=BASE_MS + i) for i in range(3)]
    with FakeClerkBackend(users=users) as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def test_sync_client_fetches_a_profile_like_the_async_one(clerk: FakeClerkBackend, http: httpx.Client) -> None:
    """A WSGI request's first-sight fetch maps the user by the webhook's rules and sends key and user agent."""
    api = SyncBackendAPI(http, clerk.secret_key, api_url=clerk.url, sleep=BlockingSleeps())
    profile = api.get_user_profile("user_2")
    assert profile is not None
    assert (profile.source, profile.version, profile.fields["email"]) == (Source.API, BASE_MS + 2, "u2@example.org")
    assert api.get_user("user_missing") is None
    (first, _) = clerk.requests
    assert first.headers["authorization"] == f"Bearer {clerk.secret_key}"
    assert first.headers["user-agent"].startswith("clerk-sync")
    assert api.count_users() == 3


def test_sync_client_retries_a_429_after_retry_after(clerk: FakeClerkBackend, http: httpx.Client) -> None:
    """Clerk's rate limit is honoured by the blocking client too: it waits what ``Retry-After`` says, then succeeds."""
    sleeps = BlockingSleeps()
    clerk.fail(429, retry_after=2)
    api = SyncBackendAPI(http, clerk.secret_key, api_url=clerk.url, sleep=sleeps)
    assert api.get_user("user_0") is not None
    assert sleeps.calls == [2.0]
    assert clerk.request_count == 2


def test_sync_client_gives_up_with_one_typed_error(clerk: FakeClerkBackend, http: httpx.Client) -> None:
    """Exhausted retries and a refused key end as ``BackendAPIError`` (never an httpx error), key not quoted."""
    for number in (1, 2):
        clerk.fail(503, on_request=number)
    api = SyncBackendAPI(http, clerk.secret_key, api_url=clerk.url, max_attempts=2, sleep=BlockingSleeps())
    with pytest.raises(BackendAPIError, match="after 2 attempts: HTTP 503") as failed:
        api.get_user("user_0")
    assert failed.value.status_code == 503
    with pytest.raises(BackendAPIError, match="failed with 401") as refused:
        SyncBackendAPI(http, "sk_test_wrong", api_url=clerk.url).get_user("user_0")
    assert "sk_test_wrong" not in str(refused.value)
    assert "sk_test_wrong" not in repr(api)
