"""App-scoped objects, built once in the lifespan and found by dependencies on ``app.state``.

``ClerkSync`` is what an app writes: ``clerk = ClerkSync(database_url=..., model=User)`` and
``FastAPI(lifespan=clerk.lifespan)``. Only the lifespan constructs the HTTP client, key set, verifier, engine and
Backend API client (DESIGN.md); dependencies read them from ``request.app.state.clerk_sync`` so tests can swap any
piece.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from clerk_sync.authenticator import Authenticator
from clerk_sync.backend_api import BackendAPI
from clerk_sync.bootstrap import build_authenticator, build_key_set, build_verifier, check_key_source
from clerk_sync.db import AsyncSQLAlchemyStore, upgrade
from clerk_sync.errors import ConfigurationError
from clerk_sync.keys import JwksKeySet, KeySet
from clerk_sync.profile import ClaimMapping
from clerk_sync.settings import ClerkSettings
from clerk_sync.store import AsyncSyncHook, SyncHook
from clerk_sync.verify import TokenVerifier

__all__ = ["ClerkRuntime", "ClerkSync", "Database", "get_runtime", "runtime_of"]

logger = logging.getLogger("clerk_sync")

STATE_KEY = "clerk_sync"

#: Logged once per app start without an ``azp`` allow-list; names the variable, never a value.
_COOKIES_REFUSED_WARNING = (
    "CLERK_AUTHORIZED_PARTIES is not set, so session tokens in the __session cookie are refused "
    "(401 cookie-auth-requires-authorized-parties, against CSRF); Authorization header tokens work. To accept "
    "cookie sessions, set CLERK_AUTHORIZED_PARTIES to your frontend origins, comma-separated, "
    "e.g. CLERK_AUTHORIZED_PARTIES=https://app.example.com"
)


@dataclass(slots=True)
class Database:
    """The user store, and its sessions for ``SessionDep`` (the sessions the store's users bind to)."""

    store: AsyncSQLAlchemyStore[Any]

    @property
    def engine(self) -> AsyncEngine:
        return self.store.engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.store.sessionmaker


@dataclass(slots=True)
class ClerkRuntime:
    """What a running app holds: the verifier and its HTTP client, and optionally the database.

    ``authenticator`` (header or cookie token -> claims) is built from the settings around ``verifier``.
    """

    settings: ClerkSettings
    http: httpx.AsyncClient
    verifier: TokenVerifier
    mapping: ClaimMapping = field(default_factory=ClaimMapping)
    database: Database | None = None
    backend: BackendAPI | None = None
    authenticator: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        self.authenticator = build_authenticator(self.settings, self.verifier)


class ClerkSync:
    """Configure clerk-sync for a FastAPI app; ``lifespan`` builds and tears down the runtime.

    ``database_url`` (or an ``engine``) enables ``CurrentUser``; ``model`` is the app's user class built on
    ``ClerkUserMixin`` (default: ``clerk_sync.db.User``); ``migrate`` applies the packaged migrations at start;
    ``freeze_gc=True`` moves start-up objects out of the garbage collector's scans (``gc.freeze``), which removed
    ~70 ms p99 stalls in ``bench.compare``; it is process-wide, so it is off unless the app asks (the reference
    service does).
    ``direct_reads`` lets the store's steady-state read run on the driver, without a session
    (``AsyncSQLAlchemyStore``); pass False to send every request through the engine's sessions, e.g. when the
    engine connects in a way the URL alone does not describe (a custom ``creator``).
    """

    def __init__(
        self,
        settings: ClerkSettings | None = None,
        *,
        database_url: str | None = None,
        engine: AsyncEngine | None = None,
        model: type[Any] | None = None,
        migrate: bool = False,
        mapping: ClaimMapping | None = None,
        key_set: KeySet | None = None,
        http: httpx.AsyncClient | None = None,
        on_user_created: SyncHook | AsyncSyncHook | None = None,
        on_user_updated: SyncHook | AsyncSyncHook | None = None,
        on_user_deleted: SyncHook | AsyncSyncHook | None = None,
        freeze_gc: bool = False,
        direct_reads: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else ClerkSettings()
        self.mapping = mapping or ClaimMapping()
        self._database_url = database_url
        self._engine = engine
        self._migrate = migrate
        self._key_set = key_set
        self._http = http
        self._freeze_gc = freeze_gc
        self._direct_reads = direct_reads
        self._model = model
        self._hooks = (on_user_created, on_user_updated, on_user_deleted)

    def validate(self) -> None:
        """Fail at start, with one line naming the variable, when the key source cannot work."""
        if self._key_set is None:
            check_key_source(self.settings)

    @asynccontextmanager
    async def runtime(self) -> AsyncIterator[ClerkRuntime]:
        """Build the runtime outside FastAPI (CLI, scripts); closes what it opened."""
        self.validate()
        async with AsyncExitStack() as stack:
            http = self._http
            if http is None:
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=self.settings.http_timeout_s))
            keys = self._key_set or build_key_set(self.settings, http)
            if isinstance(keys, JwksKeySet) and not await keys.warm():
                logger.warning("signing keys could not be loaded at start; will retry on first request")
            runtime = ClerkRuntime(self.settings, http, build_verifier(self.settings, keys), self.mapping)
            runtime.database = await self._open_database(stack)
            if self.settings.secret_key is not None:
                runtime.backend = BackendAPI(
                    http,
                    self.settings.secret_key.get_secret_value(),
                    api_url=self.settings.api_url,
                    timeout=self.settings.http_timeout_s,
                    max_attempts=3,  # the request path waits for this; backfill builds its own, more patient
                    max_delay=2.0,
                )
            yield runtime

    async def _open_database(self, stack: AsyncExitStack) -> Database | None:
        created, updated, deleted = self._hooks
        store: AsyncSQLAlchemyStore[Any]
        if self._engine is not None:
            store = AsyncSQLAlchemyStore(
                self._engine,
                self._model,
                on_user_created=created,
                on_user_updated=updated,
                on_user_deleted=deleted,
                direct_reads=self._direct_reads,
            )
        elif self._database_url is not None:
            store = AsyncSQLAlchemyStore.from_url(
                self._database_url,
                self._model,
                on_user_created=created,
                on_user_updated=updated,
                on_user_deleted=deleted,
                direct_reads=self._direct_reads,
            )
        else:
            return None
        stack.push_async_callback(store.close)
        if self._migrate:
            await upgrade(store.engine)
        return Database(store)

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """FastAPI lifespan: the runtime lives on ``app.state`` while the app runs."""
        async with self.runtime() as runtime:
            if not runtime.authenticator.accepts_cookies:
                logger.warning(_COOKIES_REFUSED_WARNING)
            setattr(app.state, STATE_KEY, runtime)
            # Everything built at start-up lives as long as the app: move it out of the collector's view, so
            # full collections scan only per-request garbage (they cost ~70 ms p99 stalls otherwise).
            if self._freeze_gc:
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                delattr(app.state, STATE_KEY)


def runtime_of(request: Request) -> ClerkRuntime:
    """The app's runtime; a clear error if the app forgot ``lifespan=clerk.lifespan``."""
    runtime = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(runtime, ClerkRuntime):
        raise ConfigurationError("clerk-sync is not started: pass lifespan=ClerkSync(...).lifespan to FastAPI")
    return runtime


async def get_runtime(request: Request) -> ClerkRuntime:
    """``runtime_of`` as a dependency. Async on purpose: FastAPI runs a plain ``def`` dependency on a worker
    thread, and that hand-off cost more than the rest of a verify-only request (measured: 3.8k -> 5.8k req/s)."""
    return runtime_of(request)
