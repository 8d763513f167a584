"""``ClerkSync``: the Flask extension that opens the core's composition root (``SyncClerkCore``) with the app.

``ClerkSync(app)`` or, for application factories, ``clerk = ClerkSync()`` then ``clerk.init_app(app)``. Each app
gets one open ``SyncClerkCore`` in ``app.extensions["clerk_sync"]``, opened at ``init_app`` and closed when the
process exits: every piece of the core is thread-safe, so one root serves all of a threaded server's threads,
and nothing is opened or closed per request.

Settings come from the ``CLERK_*`` environment, each overridable by the same name in ``app.config``
(``CLERK_JWT_KEY``, ``CLERK_AUTHORIZED_PARTIES``...). Storage is, in this order: an ``engine=``, a Flask-SQLAlchemy
``db=`` (the store opens its own short sessions from ``db.session``'s factory and the user is attached to
``db.session``), a ``database_url=``, or ``CLERK_SYNC_DATABASE_URL`` / ``DATABASE_URL`` from ``app.config`` and
then the environment. Without any, claims work and ``current_user`` is a configuration error.
"""

from __future__ import annotations

import atexit
import os
from contextlib import ExitStack
from typing import Any, Protocol

import httpx
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.orm import Session, scoped_session

from clerk_sync.core import SyncClerkCore
from clerk_sync.db import SQLAlchemyStore, create_sync_engine_for, upgrade_sync
from clerk_sync.errors import ConfigurationError
from clerk_sync.flask.errors import install_error_handlers
from clerk_sync.keys import SyncKeySet
from clerk_sync.mapping import ClaimMapping
from clerk_sync.settings import ClerkSettings, load_settings
from clerk_sync.store import SyncHook, UserStore

__all__ = ["DATABASE_URL_KEYS", "EXTENSION_KEY", "ClerkState", "ClerkSync", "settings_from_config", "state_of"]

#: Where an app keeps its running clerk-sync.
EXTENSION_KEY = "clerk_sync"

#: The storage URL's names, looked up in ``app.config`` and then in the environment, first found wins.
DATABASE_URL_KEYS = ("CLERK_SYNC_DATABASE_URL", "DATABASE_URL")


class _FlaskSQLAlchemy(Protocol):
    """What we use of Flask-SQLAlchemy's ``db`` (never imported: it stays the app's dependency)."""

    @property
    def session(self) -> scoped_session[Any]: ...

    @property
    def engine(self) -> Engine: ...


class ClerkState:
    """``app.extensions["clerk_sync"]``: the open core, and the app's scoped session the user is attached to."""

    def __init__(self, core: SyncClerkCore, session: scoped_session[Session] | None, stack: ExitStack) -> None:
        self.core = core
        self.session = session
        self._stack = stack

    def close(self) -> None:
        """Close the core and what the extension opened for it (an engine built from a URL); idempotent."""
        atexit.unregister(self.close)
        self._stack.close()


def settings_from_config(config: Any) -> ClerkSettings:
    """The ``CLERK_*`` environment, each variable overridden by the same name in ``app.config``."""
    overrides = {name: config[key] for name in ClerkSettings.model_fields if (key := f"CLERK_{name.upper()}") in config}
    return load_settings(**overrides)


def state_of(app: Flask) -> ClerkState:
    """The app's running clerk-sync; a clear error when the app was never given to ``ClerkSync``."""
    state = app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, ClerkState):
        raise ConfigurationError("clerk-sync is not initialised: call ClerkSync(app) or clerk.init_app(app)")
    return state


class ClerkSync:
    """Configure clerk-sync for Flask apps; ``init_app`` opens one core per app.

    ``model`` is the app's user class built on ``ClerkUserMixin`` (default ``clerk_sync.db.User``); ``migrate``
    applies the packaged Alembic migrations at ``init_app`` (the embedded SQLite default wants it; a production
    database is migrated by ``clerk-sync db upgrade``). ``all_errors=True`` renders the app's own refusals
    (404, 405 with ``Allow``) and crashes as problem+json too; by default only clerk-sync's errors are.

    ``pool_size`` sizes the pool of the engine built from a URL: give it the server's request threads per process
    (gunicorn ``--threads``). Every synced request holds one connection while it reads, and SQLAlchemy's default
    pool (5 kept, 10 more opened and closed on demand) is smaller than a threaded worker's concurrency, so
    requests beyond it open a connection and close it again; sized to the threads (and no overflow), none does,
    and a process never holds more connections than it has threads.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        settings: ClerkSettings | None = None,
        database_url: str | None = None,
        engine: Engine | None = None,
        db: _FlaskSQLAlchemy | None = None,
        model: type[Any] | None = None,
        migrate: bool = False,
        mapping: ClaimMapping | None = None,
        key_set: SyncKeySet | None = None,
        http: httpx.Client | None = None,
        on_user_created: SyncHook | None = None,
        on_user_updated: SyncHook | None = None,
        on_user_deleted: SyncHook | None = None,
        all_errors: bool = False,
        pool_size: int | None = None,
    ) -> None:
        self._settings = settings
        self._database = (engine, db, database_url)
        self._model = model
        self._migrate = migrate
        self._mapping = mapping
        self._key_set = key_set
        self._http = http
        self._hooks: dict[str, Any] = {
            "on_user_created": on_user_created,
            "on_user_updated": on_user_updated,
            "on_user_deleted": on_user_deleted,
        }
        self._all_errors = all_errors
        self._pool_size = pool_size
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Open the app's core (closed at process exit, or by ``state_of(app).close()``) and register the error
        handler."""
        if EXTENSION_KEY in app.extensions:
            raise ConfigurationError("clerk-sync is already initialised on this app")
        settings = self._settings if self._settings is not None else settings_from_config(app.config)
        stack = ExitStack()
        try:
            store, session, engine = self._store(app, stack)
            core = SyncClerkCore(settings, store=store, key_set=self._key_set, http=self._http, mapping=self._mapping)
            stack.enter_context(core)
            if self._migrate and engine is not None:
                upgrade_sync(engine)
        except BaseException:
            stack.close()
            raise
        state = ClerkState(core, session, stack)
        app.extensions[EXTENSION_KEY] = state
        atexit.register(state.close)
        install_error_handlers(app, all_errors=self._all_errors)

    def _store(
        self, app: Flask, stack: ExitStack
    ) -> tuple[UserStore[Any] | None, scoped_session[Session] | None, Engine | None]:
        """The store, the scoped session users attach to, and the engine migrations run on."""
        engine, db, url = self._database
        if engine is not None:  # the app's engine stays the app's; the store's reader connections are ours
            store = SQLAlchemyStore(engine, self._model, **self._hooks)
            stack.callback(store.close)
            return store, None, engine
        if db is not None:
            with app.app_context():  # Flask-SQLAlchemy resolves its engine per app
                db_engine = db.engine
            return SQLAlchemyStore(db.session, self._model, **self._hooks), db.session, db_engine
        url = url or _configured_url(app)
        if url is None:
            return None, None, None
        sized = {} if self._pool_size is None else {"pool_size": self._pool_size, "max_overflow": 0}
        owned = create_sync_engine_for(url, **sized)
        stack.callback(owned.dispose)
        store = SQLAlchemyStore(owned, self._model, **self._hooks)
        stack.callback(store.close)  # its reader's connections, before the engine goes
        return store, None, owned


def _configured_url(app: Flask) -> str | None:
    for key in DATABASE_URL_KEYS:
        value = app.config.get(key)
        if value:
            return str(value)
    for key in DATABASE_URL_KEYS:
        value = os.environ.get(key)
        if value:
            return value
    return None
