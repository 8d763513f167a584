"""``ClerkSyncPlugin``: clerk-sync for a Litestar app, registered in one line (``Litestar(plugins=[...])``).

``on_app_init`` adds, and changes nothing else: the lifespan that opens the ``ClerkCore`` (kept on
``app.state``), the ``claims``, ``current_user`` and ``db_session`` dependencies, the webhook, health and
readiness handlers, the problem+json exception handlers and the OpenAPI security scheme ``ClerkSession``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components
from litestar.plugins import InitPluginProtocol
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from clerk_sync.claims import SessionClaims
from clerk_sync.core import ClerkCore
from clerk_sync.db import ClerkUserMixin, async_store_option, prepare_schema
from clerk_sync.keys import KeySet
from clerk_sync.litestar.deps import (
    provide_claims,
    provide_current_user,
    provide_db_session,
    provide_user_on_app_session,
)
from clerk_sync.litestar.errors import ALL_EXCEPTION_HANDLERS, CLERK_EXCEPTION_HANDLERS
from clerk_sync.litestar.openapi import SCHEME_NAME, SECURITY_SCHEME
from clerk_sync.litestar.routes import health_handler, readiness_handler, webhook_handler
from clerk_sync.litestar.runtime import STATE_KEY
from clerk_sync.mapping import ClaimMapping
from clerk_sync.settings import ClerkSettings, load_settings
from clerk_sync.store import AsyncSyncHook, SyncHook

__all__ = ["ClerkSyncPlugin"]


class ClerkSyncPlugin(InitPluginProtocol):
    """Configure clerk-sync for a Litestar app.

    ``database_url`` (or the app's ``engine``, e.g. Advanced Alchemy's ``config.get_engine()``) enables
    ``current_user``; ``model`` is the app's user class on ``ClerkUserMixin``; ``migrate`` applies the packaged
    migrations at start. ``app_session=True`` binds the user to a ``db_session`` the app provides itself
    (Advanced Alchemy's plugin does) instead of registering clerk-sync's own. Set a path to None to leave that
    route out. ``all_errors=True`` renders every refusal and crash as problem+json too (the reference app).
    Settings default to the ``CLERK_*`` environment; a bad variable is reported in one line naming it.
    """

    __slots__ = ("_core_options", "_database", "_model", "_paths", "_store_options", "all_errors", "app_session")

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
        direct_reads: bool = True,
        app_session: bool = False,
        all_errors: bool = False,
        freeze_gc: bool = False,
        webhook_path: str | None = "/webhooks/clerk",
        health_path: str | None = "/healthz",
        readiness_path: str | None = "/readyz",
    ) -> None:
        self._core_options: dict[str, Any] = {
            "settings": settings if settings is not None else load_settings(),
            "key_set": key_set,
            "http": http,
            "mapping": mapping,
            "migrate": migrate,
            "freeze_gc": freeze_gc,
        }
        self._database = (database_url, engine)
        self._model = model
        self._store_options: dict[str, Any] = {
            "on_user_created": on_user_created,
            "on_user_updated": on_user_updated,
            "on_user_deleted": on_user_deleted,
            "direct_reads": direct_reads,
        }
        self._paths = (webhook_path, health_path, readiness_path)
        self.app_session = app_session
        self.all_errors = all_errors

    @property
    def settings(self) -> ClerkSettings:
        """The Clerk settings the core opens with."""
        settings: ClerkSettings = self._core_options["settings"]
        return settings

    def core(self) -> ClerkCore:
        """A new, unopened core for these options; building it checks the key source (one line at start)."""
        options = self._core_options
        store = async_store_option(*self._database, self._model, self._store_options)
        return ClerkCore(
            options["settings"],
            store=store,
            key_set=options["key_set"],
            http=options["http"],
            mapping=options["mapping"],
        )

    @asynccontextmanager
    async def runtime(self) -> AsyncIterator[ClerkCore]:
        """The open core outside Litestar (CLI, scripts); closes what it opened."""
        async with self.core() as core:
            await prepare_schema(core.store, migrate=self._core_options["migrate"])  # or stop naming the table
            yield core

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """The core lives on ``app.state`` while the app runs."""
        async with self.runtime() as core:
            setattr(app.state, STATE_KEY, core)
            if self._core_options["freeze_gc"]:  # start-up objects live as long as the app
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                delattr(app.state, STATE_KEY)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the lifespan, dependencies, handlers, exception handlers and the security scheme."""
        self.core()  # fail at start, with one line naming the variable, when the key source cannot work
        app_config.lifespan.append(self.lifespan)
        user_provider = provide_user_on_app_session if self.app_session else provide_current_user
        app_config.dependencies.setdefault("claims", Provide(provide_claims))
        app_config.dependencies.setdefault("current_user", Provide(user_provider))
        if not self.app_session:
            app_config.dependencies.setdefault("db_session", Provide(provide_db_session))
        app_config.signature_namespace.update(
            {"SessionClaims": SessionClaims, "AsyncSession": AsyncSession, "ClerkUserMixin": ClerkUserMixin}
        )
        webhook_path, health_path, readiness_path = self._paths
        if webhook_path is not None:
            app_config.route_handlers.append(webhook_handler(webhook_path))
        if health_path is not None:
            app_config.route_handlers.append(health_handler(health_path))
        if readiness_path is not None:
            app_config.route_handlers.append(readiness_handler(readiness_path))
        handlers = ALL_EXCEPTION_HANDLERS if self.all_errors else CLERK_EXCEPTION_HANDLERS
        app_config.exception_handlers = {**handlers, **app_config.exception_handlers}
        openapi = app_config.openapi_config or OpenAPIConfig(title="Litestar API", version="1.0.0")
        components = openapi.components if isinstance(openapi.components, Components) else Components()
        schemes = dict(components.security_schemes or {})
        schemes.setdefault(SCHEME_NAME, SECURITY_SCHEME)
        components.security_schemes = schemes
        openapi.components = components
        app_config.openapi_config = openapi
        return app_config
