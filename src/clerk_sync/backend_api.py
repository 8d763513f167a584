"""A small Clerk Backend API client (async, and sync for WSGI apps) for the three calls clerk-sync needs: one
user, all users, a count.

Clerk's own SDK would bring a large generated dependency for three GET requests; this client receives the
app's ``httpx.AsyncClient`` (connection pool, proxies and transports stay the app's decision) and adds what a
backfill and a first-sight fetch need: bounded retries that respect Clerk's rate limit, and one error type.

Retry policy: a 429 waits for ``Retry-After`` (Clerk's limit is per 10 s window, so the value is short; it is
capped anyway); 5xx answers, timeouts and connection failures back off exponentially with jitter, so several
workers that failed together do not retry together. Any other 4xx (bad key, bad request) cannot improve by
retrying and raises at once. The secret key is sent only in the ``Authorization`` header and never appears in
messages or logs (httpx itself redacts that header in ``repr``).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal
from urllib.parse import quote

import httpx

from clerk_sync.errors import BackendAPIError, ConfigurationError
from clerk_sync.mapping import profile_from_user_json
from clerk_sync.profile import Source, UserProfile

__all__ = ["API_VERSION", "DEFAULT_API_URL", "MAX_PAGE_SIZE", "BackendAPI", "PageKey", "Paging", "SyncBackendAPI"]

DEFAULT_API_URL = "https://api.clerk.com"

#: The Backend API version this client was written against, sent as ``Clerk-API-Version`` so a new Clerk
#: version never changes what we parse: the newest spec in github.com/clerk/openapi-specs,
#: ``bapi/2026-05-12.yml`` (``info.version: '2026-05-12'``; see clerk.com/docs/versioning/available-versions).
API_VERSION = "2026-05-12"

#: How ``iter_user_pages`` walks the list; see its docstring.
Paging = Literal["created_at", "cursor", "offset"]

#: Clerk rejects ``limit`` above 500 on ``GET /v1/users``.
MAX_PAGE_SIZE = 500

_logger = logging.getLogger(__name__)


def _user_agent() -> str:
    try:
        return f"clerk-sync/{version('clerk-sync')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "clerk-sync"


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What one attempt's outcome means: a body to return (``delay`` None), or a delay before the next try."""

    body: Any = None
    delay: float | None = None
    problem: str = ""
    status: int | None = None


@dataclass(frozen=True, slots=True)
class PageKey:
    """Where a ``created_at`` walk stands: the newest ``created_at`` (ms) read, and the ids read at that instant.

    Both parts are values, not positions, so no create or delete elsewhere in the list can move them; the ids
    let the next page ask for ``created_at >= created_at`` and drop the users already read in that millisecond.
    This is what a backfill checkpoint stores.
    """

    created_at: int
    ids: frozenset[str] = field(default_factory=frozenset)


class _BackendAPIBase:
    """The retry policy and every answer's meaning, free of I/O: the async and sync clients only send.

    ``timeout`` (seconds per attempt) is deliberately short: the first-sight fetch runs inside a user's
    request, where a slow Clerk must cost a bounded delay, not a hung request; ``None`` keeps the client's own
    timeout.
    """

    def __init__(
        self,
        secret_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        max_attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float | None = 10.0,
    ) -> None:
        if not secret_key or not secret_key.strip():
            raise ConfigurationError("CLERK_SECRET_KEY is empty")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._headers = {
            "Authorization": f"Bearer {secret_key.strip()}",
            "Accept": "application/json",
            "User-Agent": _user_agent(),
            "Clerk-API-Version": API_VERSION,
        }
        self._base = api_url.rstrip("/") + "/v1"
        self._max_attempts = max_attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self._base[:-3]!r})"

    def _request_options(self, params: Mapping[str, str | int] | None) -> dict[str, Any]:
        return {
            "params": params,
            "headers": self._headers,
            "timeout": self._timeout if self._timeout is not None else httpx.USE_CLIENT_DEFAULT,
        }

    def _judge(
        self, path: str, attempt: int, outcome: httpx.Response | httpx.HTTPError, *, allow_not_found: bool
    ) -> _Attempt:
        """Return the body (2xx; None for an allowed 404), a delay to retry after, or raise for good."""
        if isinstance(outcome, httpx.HTTPError):
            return _Attempt(delay=self._backoff(attempt), problem=type(outcome).__name__)
        status = outcome.status_code
        if 200 <= status < 300:
            return _Attempt(body=_json(outcome, path), status=status)
        if status == 404 and allow_not_found:
            return _Attempt(status=status)
        if status != 429 and status < 500:
            raise BackendAPIError(f"GET /v1{path} failed with {status}{_clerk_error(outcome)}", status_code=status)
        retry_after = _retry_after(outcome.headers.get("Retry-After"))
        delay = self._backoff(attempt) if retry_after is None else min(retry_after, self._max_delay)
        return _Attempt(delay=delay, problem=f"HTTP {status}", status=status)

    def _give_up_or_wait(self, path: str, attempt: int, judged: _Attempt) -> float:
        """The delay before the next attempt; raises once the attempts are spent."""
        assert judged.delay is not None
        if attempt == self._max_attempts:
            raise BackendAPIError(
                f"GET /v1{path} failed after {self._max_attempts} attempts: {judged.problem}",
                status_code=judged.status,
            )
        _logger.warning(
            "Clerk Backend API GET /v1%s: %s (attempt %d/%d), retrying in %.2fs",
            path,
            judged.problem,
            attempt,
            self._max_attempts,
            judged.delay,
        )
        return judged.delay

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._max_delay, self._base_delay * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography


class BackendAPI(_BackendAPIBase):
    """Clerk Backend API calls with retries on the app's ``httpx.AsyncClient``; every failure surfaces as
    ``BackendAPIError``.

    ``sleep`` is injectable so tests observe the delays without waiting them out.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        secret_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        max_attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float | None = 10.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            secret_key,
            api_url=api_url,
            max_attempts=max_attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            timeout=timeout,
        )
        self._client = client
        self._sleep = sleep

    async def get_user(self, user_id: str) -> Mapping[str, Any] | None:
        """The Clerk User object, or ``None`` when Clerk does not know the id (never existed or deleted)."""
        return _user_object(await self._get(_user_path(user_id), allow_not_found=True))

    async def get_user_profile(
        self, user_id: str, *, source: Source = Source.API, include_private_metadata: bool = False
    ) -> UserProfile | None:
        """``get_user`` mapped by the webhook's rules, for a user first seen without profile claims."""
        return _user_profile(await self.get_user(user_id), source, include_private_metadata)

    async def count_users(self) -> int:
        """Total number of users, for a backfill's progress bar."""
        return _total_count(await self._get("/users/count"))

    async def iter_user_pages(
        self, page_size: int = MAX_PAGE_SIZE, *, paging: Paging = "created_at"
    ) -> AsyncIterator[list[Mapping[str, Any]]]:
        """Every user, a page at a time, oldest first.

        ``created_at`` (the default) pages by value: each request asks for ``order_by=+created_at`` and
        ``created_at_after=<newest created_at read> - 1`` (Clerk's filter is strict, in milliseconds), dropping
        the users already read in that millisecond (``iter_keyed_user_pages``). A user deleted or created
        anywhere in the list moves no other user, so every user that exists for the whole walk is yielded
        exactly once; sign-ups land after the last page.

        ``offset`` (``offset=n``) is kept for comparison only: a deletion during the walk shifts every later
        user one place down, onto a page already read, and that user is skipped. ``cursor``
        (``starting_after=<last id>``) is position-free too, but Clerk's spec does not say what a cursor naming
        a user deleted meanwhile does, and the fake answers 422; a server that ignores the cursor (the same
        page again) raises ``BackendAPIError``.
        """
        if paging == "created_at":
            async for page, _key in self.iter_keyed_user_pages(page_size):
                yield page
            return
        _check_page_size(page_size)
        offset = 0
        cursor: str | None = None
        previous_ids: set[str] = set()
        while True:
            params: dict[str, str | int] = {"limit": page_size, "order_by": "+created_at"}
            if paging == "cursor":
                if cursor is not None:
                    params["starting_after"] = cursor
            else:
                params["offset"] = offset
            page = _user_list(await self._get("/users", params=params))
            ids = [user["id"] for user in page]
            if previous_ids.intersection(ids):
                raise BackendAPIError("GET /v1/users returned the same users twice; paging is not advancing")
            if page:
                yield page
            if len(page) < page_size:
                return
            offset += len(page)
            cursor = ids[-1]
            previous_ids = set(ids)

    async def iter_keyed_user_pages(
        self, page_size: int = MAX_PAGE_SIZE, *, after: PageKey | None = None
    ) -> AsyncGenerator[tuple[list[Mapping[str, Any]], PageKey], None]:
        """The ``created_at`` walk, each page with the key to resume after it; ``after`` starts past a key.

        Users created in one millisecond are told apart by id. Should more than a page of them share the
        newest millisecond (a bulk import with a custom ``created_at`` can do that), the next request adds an
        ``offset`` within that millisecond, overlapping half a page so a few deletions there skip no one.
        A server that ignores ``created_at_after`` or the order raises ``BackendAPIError`` instead of looping.
        """
        _check_page_size(page_size)
        key = after
        stalled = False
        while True:
            params: dict[str, str | int] = {"limit": page_size, "order_by": "+created_at"}
            if key is not None:
                params["created_at_after"] = key.created_at - 1
                if len(key.ids) >= page_size:
                    params["offset"] = len(key.ids) - page_size // 2
            page = _user_list(await self._get("/users", params=params))
            fresh = _fresh_users(page, key)
            stamps = [stamp for stamp in map(_created_at, fresh) if stamp is not None]
            if stamps:
                newest = stamps[-1]
                ids = {user["id"] for user in fresh if _created_at(user) == newest}
                if key is not None and key.created_at == newest:
                    ids |= key.ids
                key = PageKey(newest, frozenset(ids))
            if fresh:
                stalled = False
                yield fresh, key if key is not None else PageKey(0)
            elif len(page) == page_size:
                if stalled:
                    raise BackendAPIError("GET /v1/users returned the same users twice; paging is not advancing")
                stalled = True
            if len(page) < page_size:
                return

    async def _get(
        self, path: str, *, params: Mapping[str, str | int] | None = None, allow_not_found: bool = False
    ) -> Any:
        for attempt in range(1, self._max_attempts + 1):
            outcome: httpx.Response | httpx.HTTPError
            try:
                outcome = await self._client.get(self._base + path, **self._request_options(params))
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                outcome = exc
            judged = self._judge(path, attempt, outcome, allow_not_found=allow_not_found)
            if judged.delay is None:
                return judged.body
            await self._sleep(self._give_up_or_wait(path, attempt, judged))
        raise AssertionError("unreachable")  # pragma: no cover


class SyncBackendAPI(_BackendAPIBase):
    """``BackendAPI`` on an ``httpx.Client``, for synchronous apps: the first-sight fetch of a WSGI request.

    Same policy and errors; ``sleep`` blocks the calling thread (injectable for tests).
    """

    def __init__(
        self,
        client: httpx.Client,
        secret_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        max_attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        timeout: float | None = 10.0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        super().__init__(
            secret_key,
            api_url=api_url,
            max_attempts=max_attempts,
            base_delay=base_delay,
            max_delay=max_delay,
            timeout=timeout,
        )
        self._client = client
        self._sleep = sleep

    def get_user(self, user_id: str) -> Mapping[str, Any] | None:
        """The Clerk User object, or ``None`` when Clerk does not know the id."""
        return _user_object(self._get(_user_path(user_id), allow_not_found=True))

    def get_user_profile(
        self, user_id: str, *, source: Source = Source.API, include_private_metadata: bool = False
    ) -> UserProfile | None:
        """``get_user`` mapped by the webhook's rules, for a user first seen without profile claims."""
        return _user_profile(self.get_user(user_id), source, include_private_metadata)

    def count_users(self) -> int:
        """Total number of users."""
        return _total_count(self._get("/users/count"))

    def _get(self, path: str, *, params: Mapping[str, str | int] | None = None, allow_not_found: bool = False) -> Any:
        for attempt in range(1, self._max_attempts + 1):
            outcome: httpx.Response | httpx.HTTPError
            try:
                outcome = self._client.get(self._base + path, **self._request_options(params))
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                outcome = exc
            judged = self._judge(path, attempt, outcome, allow_not_found=allow_not_found)
            if judged.delay is None:
                return judged.body
            self._sleep(self._give_up_or_wait(path, attempt, judged))
        raise AssertionError("unreachable")  # pragma: no cover


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")


def _fresh_users(page: list[Mapping[str, Any]], key: PageKey | None) -> list[Mapping[str, Any]]:
    """The users of a ``created_at`` page not read before; raises when the page breaks the walk's contract."""
    floor = key.created_at if key is not None else None
    previous: int | None = floor
    fresh: list[Mapping[str, Any]] = []
    for user in page:
        created = _created_at(user)
        if created is None:
            fresh.append(user)  # unreadable: the caller judges it; it cannot move the walk's key
            continue
        if previous is not None and created < previous:
            raise BackendAPIError(
                "GET /v1/users ignored order_by=+created_at or created_at_after; paging cannot continue",
                status_code=200,
            )
        previous = created
        if key is not None and created == key.created_at and user["id"] in key.ids:
            continue
        fresh.append(user)
    return fresh


def _created_at(user: Mapping[str, Any]) -> int | None:
    created = user.get("created_at")
    return created if isinstance(created, int) and not isinstance(created, bool) else None


def _user_path(user_id: str) -> str:
    if not user_id:
        raise ValueError("user_id is empty")
    return f"/users/{quote(user_id, safe='')}"


def _user_object(body: Any) -> Mapping[str, Any] | None:
    if body is None:
        return None
    if not isinstance(body, dict):
        raise BackendAPIError("GET /v1/users/{id} did not return a JSON object", status_code=200)
    return body


def _user_profile(user: Mapping[str, Any] | None, source: Source, include_private_metadata: bool) -> UserProfile | None:
    if user is None:
        return None
    try:
        return profile_from_user_json(user, source=source, include_private_metadata=include_private_metadata)
    except ValueError as exc:
        raise BackendAPIError(f"GET /v1/users/{{id}} returned an unusable user: {exc}") from None


def _total_count(body: Any) -> int:
    total = body.get("total_count") if isinstance(body, dict) else None
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise BackendAPIError("GET /v1/users/count did not return a total_count", status_code=200)
    return total


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise BackendAPIError(
            f"GET /v1{path} answered {response.status_code} with a body that is not JSON",
            status_code=response.status_code,
        ) from None


def _user_list(body: Any) -> list[Mapping[str, Any]]:
    if not isinstance(body, list) or not all(
        isinstance(user, dict) and isinstance(user.get("id"), str) for user in body
    ):
        raise BackendAPIError("GET /v1/users did not return a JSON array of users", status_code=200)
    return body


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait per ``Retry-After`` (seconds or an HTTP date); ``None`` when absent or unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _clerk_error(response: httpx.Response) -> str:
    """Clerk's error code and message say more than the status (e.g. ``authentication_invalid``)."""
    try:
        body = response.json()
        first = body["errors"][0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""
    detail = ": ".join(part for part in (code, message) if part)
    return f" ({detail[:200]})" if detail else ""
