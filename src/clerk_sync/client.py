"""Outbound httpx clients that carry a Clerk session token through its 60-second lifetime.

A Clerk session token expires a minute after it is minted, so a caller of a clerk-sync API will regularly
send a token the server has just stopped accepting. Asking the token source for a fresh token before *every*
request would hammer Clerk; asking only after a ``401`` costs one extra round trip per minute. That is what
:class:`ClerkBearerAuth` does:

1. take the source's current token and send ``Authorization: Bearer <token>``;
2. on ``401``, refresh the token once (concurrent ``401`` s for the same stale token share one refresh) and
   resend the request once with the new token;
3. whatever the resend answers, including a second ``401``, goes back to the caller. There is no loop.

Decisions worth knowing:

- A refresh that *raises* becomes :class:`~clerk_sync.errors.TokenRefreshError` (chained): the caller cannot
  proceed and should learn why. A refresh that returns ``None`` (Clerk's ``getToken`` does when signed out) or
  the same token (:class:`StaticToken`) means "nothing better to offer": the ``401`` is returned, not retried.
- Only requests whose body httpx holds as bytes are resent. Streaming uploads (generators, async iterators,
  file objects, multipart) are not buffered and not retried: their ``401`` is returned. The token is still
  refreshed, so the caller's own resend with a new body carries the fresh token.
- Tokens never appear in logs, reprs or exception messages.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, runtime_checkable

import anyio
import anyio.to_thread
import httpx

from clerk_sync.errors import TokenRefreshError

__all__ = [
    "AsyncTokenSource",
    "CallableTokenSource",
    "ClerkBearerAuth",
    "StaticToken",
    "SyncTokenSource",
    "TokenFunction",
    "TokenSource",
    "make_client",
    "make_sync_client",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class AsyncTokenSource(Protocol):
    """Where an async client gets its session tokens.

    ``get_token`` runs before every request, so it must be cheap (serve a cached token, as Clerk's
    ``getToken`` does). After ``refresh`` returns a new token, ``get_token`` must return that token too, or
    every later request pays for a ``401`` first.
    """

    async def get_token(self) -> str | None:
        """Return the token to send now, or ``None`` to send the request without one."""
        ...

    async def refresh(self, stale: str | None) -> str | None:
        """Return a token newer than ``stale`` (the one the server refused), or ``None`` if there is none."""
        ...


@runtime_checkable
class SyncTokenSource(Protocol):
    """The blocking twin of :class:`AsyncTokenSource`, for ``httpx.Client``; same contract.

    The methods carry a ``_sync`` suffix so that one object can serve both kinds of client.
    """

    def get_token_sync(self) -> str | None:
        """Return the token to send now, or ``None`` to send the request without one."""
        ...

    def refresh_sync(self, stale: str | None) -> str | None:
        """Return a token newer than ``stale`` (the one the server refused), or ``None`` if there is none."""
        ...


@runtime_checkable
class TokenSource(AsyncTokenSource, SyncTokenSource, Protocol):
    """A source usable by both async and sync clients; the adapters in this module implement it."""


class StaticToken:
    """A token that never changes: machine-to-machine calls, long-lived tokens, tests.

    Its ``refresh`` hands back the same token, which the auth reads as "nothing newer", so a ``401`` is
    returned rather than resent with the token the server just refused.
    """

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<redacted>)"

    async def get_token(self) -> str | None:
        """Return the token."""
        return self._token

    async def refresh(self, stale: str | None) -> str | None:
        """Return the same token: there is nothing to refresh."""
        return self._token

    def get_token_sync(self) -> str | None:
        """Return the token."""
        return self._token

    def refresh_sync(self, stale: str | None) -> str | None:
        """Return the same token: there is nothing to refresh."""
        return self._token


TokenFunction: TypeAlias = Callable[[bool], str | Awaitable[str | None] | None]
"""``fn(force_refresh)``: the shape of Clerk's ``getToken({skipCache})``, sync or async."""


class CallableTokenSource:
    """Adapts ``fn(force_refresh: bool)``, the shape of Clerk's ``getToken({skipCache: ...})``.

    ``fn(False)`` may serve a cached token; ``fn(True)`` must mint a new one and make later ``fn(False)``
    calls return it. ``fn`` may be sync or async. An async ``fn`` only works with the async client. A sync
    ``fn`` used by the async client runs on the event loop, so it must not block: make it async if it does
    I/O.
    """

    __slots__ = ("_fn",)

    def __init__(self, fn: TokenFunction) -> None:
        self._fn = fn

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self._fn, '__qualname__', type(self._fn).__name__)})"

    async def get_token(self) -> str | None:
        """Return ``fn(False)``."""
        return await self._call_async(force_refresh=False)

    async def refresh(self, stale: str | None) -> str | None:
        """Return ``fn(True)``; Clerk's ``getToken`` has no notion of which token was refused."""
        return await self._call_async(force_refresh=True)

    def get_token_sync(self) -> str | None:
        """Return ``fn(False)``."""
        return self._call_sync(force_refresh=False)

    def refresh_sync(self, stale: str | None) -> str | None:
        """Return ``fn(True)``."""
        return self._call_sync(force_refresh=True)

    async def _call_async(self, *, force_refresh: bool) -> str | None:
        result = self._fn(force_refresh)
        if result is None or isinstance(result, str):
            return result
        return await result

    def _call_sync(self, *, force_refresh: bool) -> str | None:
        result = self._fn(force_refresh)
        if result is None or isinstance(result, str):
            return result
        if inspect.iscoroutine(result):
            result.close()  # otherwise Python warns that it was never awaited
        raise TypeError(
            "CallableTokenSource wraps an async function; a sync httpx.Client cannot await it "
            "(use make_client, or pass a sync function)"
        )


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What the latest refresh produced, kept so that requests that waited for it share it."""

    token: str | None
    error: Exception | None


class ClerkBearerAuth(httpx.Auth):
    """httpx auth: bearer token from a source; on ``401``, one shared refresh and one resend.

    Single flight: each request remembers the refresh *generation* it read before fetching its token. When
    its ``401`` arrives, it takes the lock; if a refresh completed in the meantime (the generation moved) and
    produced a different token, that token is reused; otherwise this request refreshes. So N concurrent
    ``401`` s for one stale token cost one refresh, while a later ``401`` (a minute on, for a token minted
    after that refresh) still gets its own. The lock is never held across a ``yield``: httpx may close the
    flow at any yield.

    Use one instance per client; the async lock belongs to the event loop that first uses it.
    """

    # httpx would buffer streaming uploads into memory for us if this were True; we prefer not to resend them.
    requires_request_body = False
    requires_response_body = False

    def __init__(self, token_source: AsyncTokenSource | SyncTokenSource) -> None:
        self._async_source = token_source if isinstance(token_source, AsyncTokenSource) else None
        self._sync_source = token_source if isinstance(token_source, SyncTokenSource) else None
        if self._async_source is None and self._sync_source is None:
            raise TypeError(
                f"{type(token_source).__name__} is not a token source: it needs get_token/refresh (async) "
                "or get_token_sync/refresh_sync"
            )
        self._source_name = type(token_source).__name__
        self._async_lock = anyio.Lock()
        self._sync_lock = threading.Lock()
        self._generation = 0
        self._outcome = _Outcome(token=None, error=None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<{self._source_name}>)"

    # -- async ------------------------------------------------------------------------------------------

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send with the current token; on ``401``, refresh once (shared) and resend once if possible."""
        generation = self._generation
        token = await self._get_token_async()
        _authorize(request, token)
        response = yield request
        if response.status_code != 401:
            return
        fresh = await self._refresh_async(token, generation)
        if _should_resend(request, token, fresh):
            _authorize(request, fresh)
            yield request

    async def _get_token_async(self) -> str | None:
        try:
            if self._async_source is not None:
                return await self._async_source.get_token()
            assert self._sync_source is not None
            return await anyio.to_thread.run_sync(self._sync_source.get_token_sync)
        except Exception as exc:
            raise TokenRefreshError(f"{self._source_name} could not provide a session token") from exc

    async def _refresh_async(self, stale: str | None, generation: int) -> str | None:
        async with self._async_lock:
            outcome = self._shared_outcome(stale, generation)
            if outcome is None:
                logger.debug("401 received; refreshing the session token via %s", self._source_name)
                try:
                    if self._async_source is not None:
                        token = await self._async_source.refresh(stale)
                    else:
                        assert self._sync_source is not None
                        token = await anyio.to_thread.run_sync(self._sync_source.refresh_sync, stale)
                except Exception as exc:
                    outcome = self._record(_Outcome(token=None, error=exc))
                else:
                    outcome = self._record(_Outcome(token=token, error=None))
        return self._unwrap(outcome)

    # -- sync -------------------------------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Blocking twin of :meth:`async_auth_flow`; concurrent threads share one refresh."""
        if self._sync_source is None:
            raise RuntimeError(
                f"{self._source_name} is async-only; use it with httpx.AsyncClient (make_client), "
                "or give it get_token_sync/refresh_sync"
            )
        source = self._sync_source
        generation = self._generation
        try:
            token = source.get_token_sync()
        except Exception as exc:
            raise TokenRefreshError(f"{self._source_name} could not provide a session token") from exc
        _authorize(request, token)
        response = yield request
        if response.status_code != 401:
            return
        with self._sync_lock:
            outcome = self._shared_outcome(token, generation)
            if outcome is None:
                logger.debug("401 received; refreshing the session token via %s", self._source_name)
                try:
                    fresh = source.refresh_sync(token)
                except Exception as exc:
                    outcome = self._record(_Outcome(token=None, error=exc))
                else:
                    outcome = self._record(_Outcome(token=fresh, error=None))
        fresh = self._unwrap(outcome)
        if _should_resend(request, token, fresh):
            _authorize(request, fresh)
            yield request

    # -- shared state (always called with one of the locks held) ---------------------------------------

    def _shared_outcome(self, stale: str | None, generation: int) -> _Outcome | None:
        """Return the refresh that finished after this request took its token, unless it gave that token."""
        if self._generation == generation:
            return None
        outcome = self._outcome
        if outcome.error is None and outcome.token is not None and outcome.token == stale:
            return None  # this request already carried that refresh's token and it was refused too
        return outcome

    def _record(self, outcome: _Outcome) -> _Outcome:
        self._outcome = outcome
        self._generation += 1
        return outcome

    def _unwrap(self, outcome: _Outcome) -> str | None:
        if outcome.error is not None:
            raise TokenRefreshError(
                f"{self._source_name} failed to refresh the session token ({type(outcome.error).__name__})"
            ) from outcome.error
        return outcome.token


def _authorize(request: httpx.Request, token: str | None) -> None:
    # Without a token, leave any Authorization header the caller set explicitly.
    if token is not None:
        request.headers["Authorization"] = f"Bearer {token}"


def _should_resend(request: httpx.Request, stale: str | None, fresh: str | None) -> bool:
    if fresh is None or fresh == stale:
        return False
    # Only an in-memory body can be sent twice; a consumed generator would raise httpx.StreamConsumed.
    if not isinstance(request.stream, httpx.ByteStream):
        logger.debug("401 on a streaming request body; returned without resending")
        return False
    return True


def make_client(
    base_url: str | httpx.URL,
    token_source: AsyncTokenSource | SyncTokenSource,
    *,
    timeout: float | httpx.Timeout | None = 10.0,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """Build an ``httpx.AsyncClient`` for a clerk-sync API that attaches and refreshes the session token.

    ``kwargs`` go to ``httpx.AsyncClient`` unchanged (``transport``, ``headers``, ``limits``...). A sync-only
    source is accepted; its methods then run in a worker thread so they cannot block the event loop.
    """
    return httpx.AsyncClient(base_url=base_url, auth=ClerkBearerAuth(token_source), timeout=timeout, **kwargs)


def make_sync_client(
    base_url: str | httpx.URL,
    token_source: SyncTokenSource,
    *,
    timeout: float | httpx.Timeout | None = 10.0,
    **kwargs: Any,
) -> httpx.Client:
    """Build an ``httpx.Client`` for a clerk-sync API that attaches and refreshes the session token.

    Safe to share between threads: concurrent ``401`` s share one refresh.
    """
    if not isinstance(token_source, SyncTokenSource):
        raise TypeError(
            f"{type(token_source).__name__} has no get_token_sync/refresh_sync; a sync client needs a sync token source"
        )
    return httpx.Client(base_url=base_url, auth=ClerkBearerAuth(token_source), timeout=timeout, **kwargs)
