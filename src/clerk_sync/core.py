"""The composition root: the one place that builds a running clerk-sync, for any adapter, CLI or script.

``ClerkCore`` (``async with``) and ``SyncClerkCore`` (``with``) take the settings and, optionally, a user store,
and build the rest: the HTTP client, the key set, the verifier, the authenticator, the Backend API client, the
user resolver, the webhook receiver and the readiness probe. They close what they opened, and only that: a
store, key set or HTTP client passed in stays the caller's.

The root knows no web framework and no ORM. Storage arrives as a ``UserStore`` from ``clerk_sync.db`` (or the
Django adapter), or as a factory the root calls when it opens and closes when it exits.

An adapter's whole request path is then::

    claims = core.authenticate(request's Authorization header, its cookies)   # None: no token sent
    user = core.current_user(claims)                                          # the synced row
    result = core.receive_webhook(body, headers)                              # the webhook route
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack, ExitStack
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from clerk_sync.authenticator import Authenticator, SyncAuthenticator
from clerk_sync.backend_api import BackendAPI, SyncBackendAPI
from clerk_sync.bootstrap import (
    build_authenticator,
    build_key_set,
    build_sync_authenticator,
    build_sync_key_set,
    build_sync_verifier,
    build_verifier,
    check_key_source,
)
from clerk_sync.claims import SessionClaims
from clerk_sync.errors import ConfigurationError
from clerk_sync.keys import KeySet, SyncKeySet
from clerk_sync.mapping import ClaimMapping
from clerk_sync.readiness import DatabaseCheck, Readiness
from clerk_sync.receiver import SyncWebhookReceiver, WebhookReceiver, WebhookResult
from clerk_sync.settings import ClerkSettings, load_settings
from clerk_sync.store import AsyncUserStore, UserStore
from clerk_sync.users import SyncUserResolver, UserResolver
from clerk_sync.verify import SyncTokenVerifier, TokenVerifier
from clerk_sync.webhooks import DEFAULT_MAX_BODY_BYTES

__all__ = ["COOKIES_REFUSED_WARNING", "ClerkCore", "SyncClerkCore"]

logger = logging.getLogger("clerk_sync")

S = TypeVar("S")

#: Logged once per start without an ``azp`` allow-list; names the variable, never a value.
COOKIES_REFUSED_WARNING = (
    "CLERK_AUTHORIZED_PARTIES is not set, so session tokens in the __session cookie are refused "
    "(401 cookie-auth-requires-authorized-parties, against CSRF); Authorization header tokens work. To accept "
    "cookie sessions, set CLERK_AUTHORIZED_PARTIES to your frontend origins, comma-separated, "
    "e.g. CLERK_AUTHORIZED_PARTIES=https://app.example.com"
)

#: The request path waits for the first-sight fetch: a few quick attempts (backfill builds a more patient one).
_FIRST_SIGHT_ATTEMPTS = 3
_FIRST_SIGHT_MAX_DELAY_S = 2.0


class _CoreBase(Generic[S]):
    """Configuration shared by both roots; nothing here does I/O."""

    def __init__(
        self,
        settings: ClerkSettings | None,
        *,
        store: S | Callable[[], S] | None,
        mapping: ClaimMapping | None,
        max_body_bytes: int,
    ) -> None:
        # ``load_settings`` reports a bad environment variable in one line naming it, as the service does.
        self.settings = settings if settings is not None else load_settings()
        self.mapping = mapping or ClaimMapping()
        self._store_option = store
        self._max_body_bytes = max_body_bytes
        self._opened = False

    def _check(self, key_set: object | None) -> None:
        if key_set is None:
            check_key_source(self.settings)

    def _store_from_option(self) -> tuple[S | None, bool]:
        """The store and whether the root made it (and must close it)."""
        option = self._store_option
        if option is None:
            return None, False
        if callable(option) and not hasattr(option, "read"):  # a factory; a store instance has ``read``
            return option(), True
        return option, False  # type: ignore[return-value]

    def _warn_about_cookies(self, accepts_cookies: bool) -> None:
        if not accepts_cookies:
            logger.warning(COOKIES_REFUSED_WARNING)

    def _receiver_options(self) -> dict[str, Any]:
        secret = self.settings.webhook_signing_secret
        return {
            "secret": secret.get_secret_value() if secret is not None else None,
            "include_private_metadata": self.settings.include_private_metadata,
            "max_body_bytes": self._max_body_bytes,
        }

    def _backend_options(self) -> dict[str, Any] | None:
        if self.settings.secret_key is None:
            return None
        return {
            "secret_key": self.settings.secret_key.get_secret_value(),
            "api_url": self.settings.api_url,
            "timeout": self.settings.http_timeout_s,
            "max_attempts": _FIRST_SIGHT_ATTEMPTS,
            "max_delay": _FIRST_SIGHT_MAX_DELAY_S,
        }

    def _not_open(self) -> ConfigurationError:
        kind = "async with" if isinstance(self, ClerkCore) else "with"
        return ConfigurationError(f"clerk-sync is not started: open the {type(self).__name__} with `{kind}` first")


class ClerkCore(_CoreBase[AsyncUserStore[Any]]):
    """The running clerk-sync of an event-loop app: open with ``async with`` (an adapter's lifespan does).

    ``serves_requests=False`` is for commands that verify no token (backfill): no start-up JWKS fetch and no
    warnings about the request path.
    """

    http: httpx.AsyncClient
    keys: KeySet
    verifier: TokenVerifier
    authenticator: Authenticator
    backend: BackendAPI | None
    users: UserResolver
    webhooks: WebhookReceiver
    store: AsyncUserStore[Any] | None

    def __init__(
        self,
        settings: ClerkSettings | None = None,
        *,
        store: AsyncUserStore[Any] | Callable[[], AsyncUserStore[Any]] | None = None,
        key_set: KeySet | None = None,
        http: httpx.AsyncClient | None = None,
        mapping: ClaimMapping | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        serves_requests: bool = True,
    ) -> None:
        super().__init__(settings, store=store, mapping=mapping, max_body_bytes=max_body_bytes)
        self._key_set = key_set
        self._http = http
        self._serves_requests = serves_requests
        self._stack = AsyncExitStack()
        self._check(key_set)

    async def __aenter__(self) -> ClerkCore:
        if self._opened:
            raise ConfigurationError("this ClerkCore is already open")
        stack = self._stack
        try:
            http = self._http
            if http is None:
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=self.settings.http_timeout_s))
            self.http = http
            self.keys = self._key_set or build_key_set(self.settings, http)
            warm = getattr(self.keys, "warm", None) if self._serves_requests else None
            if warm is not None and not await warm():
                logger.warning("signing keys could not be loaded at start; will retry on first request")
            self.verifier = build_verifier(self.settings, self.keys)
            self.authenticator = build_authenticator(self.settings, self.verifier)
            if self._serves_requests:
                self._warn_about_cookies(self.authenticator.accepts_cookies)
            store, owned = self._store_from_option()
            if store is not None and owned:
                stack.push_async_callback(store.close)
            self.store = store
            options = self._backend_options()
            self.backend = None if options is None else BackendAPI(http, **options)
            self.users = UserResolver(
                store, self.mapping, self.backend, include_private_metadata=self.settings.include_private_metadata
            )
            self.webhooks = WebhookReceiver(store, **self._receiver_options())
        except BaseException:
            await stack.aclose()
            raise
        self._opened = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._opened = False
        await self._stack.aclose()

    async def authenticate(self, authorization: str | None, cookies: Mapping[str, str]) -> SessionClaims | None:
        """The verified claims of a request's header or cookie token; None when it carries none."""
        if not self._opened:
            raise self._not_open()
        return await self.authenticator.authenticate(authorization, cookies)

    async def current_user(self, claims: SessionClaims) -> Any:
        """The synced row for verified claims (read; on a miss or a change, sync; first sight, fetch once)."""
        if not self._opened:
            raise self._not_open()
        return await self.users.current_user(claims)

    async def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookResult:
        """Verify and apply one Svix delivery; a ``ClerkSyncError`` for anything not accepted."""
        if not self._opened:
            raise self._not_open()
        return await self.webhooks.receive(body, headers)

    async def readiness(self) -> Readiness:
        """Database, signing keys and webhook secret; never raises."""
        if not self._opened:
            raise self._not_open()
        keys_ok = self.keys.ready
        warm = getattr(self.keys, "warm", None)
        if not keys_ok and warm is not None:
            keys_ok = await warm()
        database: DatabaseCheck = "not configured"
        last = None
        if self.store is not None:
            try:
                last = await self.store.last_webhook_at()
                database = "ok"
            except Exception:  # any failure of the probe means "not ready"; the report names the part
                database = "unavailable"
        return Readiness(
            signing_keys="ok" if keys_ok else "unavailable",
            database=database,
            webhooks="ok" if self.webhooks.configured else "not configured",
            last_webhook_at=last,
        )


class SyncClerkCore(_CoreBase[UserStore[Any]]):
    """The running clerk-sync of a synchronous app (WSGI, Django, Flask, the CLI): open with ``with``.

    Every piece is thread-safe, so one root serves all of a threaded server's threads.
    """

    http: httpx.Client
    keys: SyncKeySet
    verifier: SyncTokenVerifier
    authenticator: SyncAuthenticator
    backend: SyncBackendAPI | None
    users: SyncUserResolver
    webhooks: SyncWebhookReceiver
    store: UserStore[Any] | None

    def __init__(
        self,
        settings: ClerkSettings | None = None,
        *,
        store: UserStore[Any] | Callable[[], UserStore[Any]] | None = None,
        key_set: SyncKeySet | None = None,
        http: httpx.Client | None = None,
        mapping: ClaimMapping | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        serves_requests: bool = True,
    ) -> None:
        super().__init__(settings, store=store, mapping=mapping, max_body_bytes=max_body_bytes)
        self._key_set = key_set
        self._http = http
        self._serves_requests = serves_requests
        self._stack = ExitStack()
        self._check(key_set)

    def __enter__(self) -> SyncClerkCore:
        if self._opened:
            raise ConfigurationError("this SyncClerkCore is already open")
        stack = self._stack
        try:
            http = self._http
            if http is None:
                http = stack.enter_context(httpx.Client(timeout=self.settings.http_timeout_s))
            self.http = http
            self.keys = self._key_set or build_sync_key_set(self.settings, http)
            warm = getattr(self.keys, "warm", None) if self._serves_requests else None
            if warm is not None and not warm():
                logger.warning("signing keys could not be loaded at start; will retry on first request")
            self.verifier = build_sync_verifier(self.settings, self.keys)
            self.authenticator = build_sync_authenticator(self.settings, self.verifier)
            if self._serves_requests:
                self._warn_about_cookies(self.authenticator.accepts_cookies)
            store, owned = self._store_from_option()
            if store is not None and owned:
                stack.callback(store.close)
            self.store = store
            options = self._backend_options()
            self.backend = None if options is None else SyncBackendAPI(http, **options)
            self.users = SyncUserResolver(
                store, self.mapping, self.backend, include_private_metadata=self.settings.include_private_metadata
            )
            self.webhooks = SyncWebhookReceiver(store, **self._receiver_options())
        except BaseException:
            stack.close()
            raise
        self._opened = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._opened = False
        self._stack.close()

    def authenticate(self, authorization: str | None, cookies: Mapping[str, str]) -> SessionClaims | None:
        """The verified claims of a request's header or cookie token; None when it carries none."""
        if not self._opened:
            raise self._not_open()
        return self.authenticator.authenticate(authorization, cookies)

    def current_user(self, claims: SessionClaims) -> Any:
        """The synced row for verified claims (read; on a miss or a change, sync; first sight, fetch once)."""
        if not self._opened:
            raise self._not_open()
        return self.users.current_user(claims)

    def receive_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookResult:
        """Verify and apply one Svix delivery; a ``ClerkSyncError`` for anything not accepted."""
        if not self._opened:
            raise self._not_open()
        return self.webhooks.receive(body, headers)

    def readiness(self) -> Readiness:
        """Database, signing keys and webhook secret; never raises."""
        if not self._opened:
            raise self._not_open()
        keys_ok = self.keys.ready
        warm = getattr(self.keys, "warm", None)
        if not keys_ok and warm is not None:
            keys_ok = bool(warm())
        database: DatabaseCheck = "not configured"
        last = None
        if self.store is not None:
            try:
                last = self.store.last_webhook_at()
                database = "ok"
            except Exception:  # any failure of the probe means "not ready"; the report names the part
                database = "unavailable"
        return Readiness(
            signing_keys="ok" if keys_ok else "unavailable",
            database=database,
            webhooks="ok" if self.webhooks.configured else "not configured",
            last_webhook_at=last,
        )
