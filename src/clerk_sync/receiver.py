"""The webhook receiver: raw body and headers in, a typed result out, for every adapter.

An adapter reads the body (with ``max_body_bytes`` as its cap, before any parsing), hands over the bytes and the
headers, and renders what comes back: a ``WebhookResult`` (2xx: applied, duplicate or ignored) or a
``ClerkSyncError`` (``clerk_sync.problems`` turns it into the answer: 400 for a bad signature or body, 413 for an
oversized one, 503 when no secret is configured or the database failed, so Svix retries and nothing is lost).

Exactly-once is the store's ledger: the Svix message id and the event's effect commit in one transaction.
Everything that can refuse an event (signature, JSON, field types, column limits) runs before that.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from clerk_sync.errors import ClerkSyncError, ConfigurationError, PayloadTooLargeError, WebhookNotConfiguredError
from clerk_sync.metrics import WEBHOOKS
from clerk_sync.profile import UserDeletion, UserProfile
from clerk_sync.store import AsyncUserStore, UserStore, WebhookOutcome
from clerk_sync.webhooks import DEFAULT_MAX_BODY_BYTES, IgnoredEvent, WebhookEvent, WebhookVerifier, to_user_change

__all__ = [
    "SyncWebhookReceiver",
    "WebhookReceiver",
    "WebhookResult",
    "WebhookStatus",
    "check_declared_length",
    "read_capped",
    "read_capped_sync",
]

logger = logging.getLogger("clerk_sync.webhooks")

#: What a 2xx answer says the event did.
WebhookStatus = WebhookOutcome | Literal["ignored"]


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """A webhook the receiver accepted: ``status`` is the store's outcome, ``duplicate`` for a Svix retry of an
    applied message, or ``ignored`` for a type that does not touch users."""

    status: WebhookStatus
    id: str
    type: str

    def as_json(self) -> dict[str, str]:
        """The 2xx body every adapter sends."""
        return {"status": self.status, "id": self.id, "type": self.type}


def check_declared_length(content_length: str | None, limit: int) -> None:
    """Refuse a body by its declared ``Content-Length`` before reading a byte of it."""
    if content_length is not None and content_length.strip().isdigit() and int(content_length) > limit:
        raise PayloadTooLargeError(f"Webhook bodies are limited to {limit} bytes.")


async def read_capped(chunks: AsyncIterable[bytes], content_length: str | None, limit: int) -> bytes:
    """An ASGI request's raw body: refused by its declared length first, cut off as soon as it exceeds ``limit``
    (a sender may lie about the length, or send none), so an oversized body is never held in memory."""
    check_declared_length(content_length, limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"Webhook bodies are limited to {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)


def read_capped_sync(read: Callable[[int], bytes], content_length: str | None, limit: int) -> bytes:
    """``read_capped`` for a WSGI stream's ``read(n)``: never more than ``limit`` + 1 bytes are read."""
    check_declared_length(content_length, limit)
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    raise PayloadTooLargeError(f"Webhook bodies are limited to {limit} bytes.")


class _ReceiverBase:
    """Verification and mapping, free of I/O; the two receivers differ only in how they call the store."""

    def __init__(
        self,
        secret: str | None,
        *,
        include_private_metadata: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if max_body_bytes < 1:
            raise ConfigurationError("max_body_bytes must be at least 1")
        self.max_body_bytes = max_body_bytes
        self._include_private_metadata = include_private_metadata
        # A missing or broken secret is kept as its error: the route then answers 503 (Svix keeps retrying
        # until the secret is fixed) instead of the app refusing to start for a route it may not use yet.
        self._verifier: WebhookVerifier | WebhookNotConfiguredError
        try:
            self._verifier = WebhookVerifier(secret, max_body_bytes=max_body_bytes)
        except WebhookNotConfiguredError as exc:
            self._verifier = exc

    @property
    def configured(self) -> bool:
        """Whether a usable signing secret is configured (readiness reports it)."""
        return isinstance(self._verifier, WebhookVerifier)

    def check_configured(self) -> None:
        """Raise ``WebhookNotConfiguredError`` (503) without a usable secret: adapters call it before reading a
        body they could never verify."""
        if isinstance(self._verifier, WebhookNotConfiguredError):
            raise self._verifier

    def _change(
        self, body: bytes, headers: Mapping[str, str], now: float | None
    ) -> tuple[WebhookEvent, UserProfile | UserDeletion | IgnoredEvent]:
        self.check_configured()
        assert isinstance(self._verifier, WebhookVerifier)
        event = self._verifier.verify(body, headers, now=now)
        return event, to_user_change(event, include_private_metadata=self._include_private_metadata)


def _ignored(event: WebhookEvent) -> WebhookResult:
    logger.info("webhook %s ignored (type %s)", event.id, event.type)
    return WebhookResult("ignored", event.id, event.type)


def _applied(event: WebhookEvent, change: UserProfile | UserDeletion, outcome: WebhookOutcome) -> WebhookResult:
    logger.info("webhook %s %s for %s -> %s", event.id, event.type, change.clerk_id, outcome)
    return WebhookResult(outcome, event.id, event.type)


def _counted(result: WebhookResult) -> WebhookResult:
    WEBHOOKS.labels(result.status).inc()
    return result


def _no_store() -> ConfigurationError:
    return ConfigurationError("The webhook receiver needs a user store (a database) to apply user events.")


class WebhookReceiver(_ReceiverBase):
    """The receiver for event loops, on an ``AsyncUserStore``."""

    def __init__(self, store: AsyncUserStore[Any] | None, secret: str | None, **options: Any) -> None:
        super().__init__(secret, **options)
        self.store = store

    async def receive(self, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> WebhookResult:
        """Verify, map and apply one delivery; raises a ``ClerkSyncError`` for anything not accepted."""
        try:
            event, change = self._change(body, headers, now)
            if isinstance(change, IgnoredEvent):
                return _counted(_ignored(event))
            if self.store is None:
                raise _no_store()
            outcome = await self.store.apply_webhook(event.id, event.type, change)
        except ClerkSyncError as exc:
            WEBHOOKS.labels(exc.code).inc()
            raise
        return _counted(_applied(event, change, outcome))


class SyncWebhookReceiver(_ReceiverBase):
    """The receiver for synchronous apps (WSGI, Django, Flask), on a ``UserStore``."""

    def __init__(self, store: UserStore[Any] | None, secret: str | None, **options: Any) -> None:
        super().__init__(secret, **options)
        self.store = store

    def receive(self, body: bytes, headers: Mapping[str, str], *, now: float | None = None) -> WebhookResult:
        """Verify, map and apply one delivery; raises a ``ClerkSyncError`` for anything not accepted."""
        try:
            event, change = self._change(body, headers, now)
            if isinstance(change, IgnoredEvent):
                return _counted(_ignored(event))
            if self.store is None:
                raise _no_store()
            outcome = self.store.apply_webhook(event.id, event.type, change)
        except ClerkSyncError as exc:
            WEBHOOKS.labels(exc.code).inc()
            raise
        return _counted(_applied(event, change, outcome))
