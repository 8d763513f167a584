"""Fixtures for tests/flask: Flask apps on the ``ClerkSync`` extension, on real SQLite files, closed after use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event

from clerk_sync.db import create_sync_engine_for, upgrade_sync
from clerk_sync.flask import ClerkSync, state_of
from clerk_sync.issuer import TokenIssuer
from clerk_sync.settings import ClerkSettings, load_settings
from tests.databases import sqlite_url

AppFactory = Callable[..., Flask]


def settings_for(issuer: TokenIssuer, **overrides: Any) -> ClerkSettings:
    """Settings that trust ``issuer``'s key (networkless)."""
    return load_settings(jwt_key=issuer.public_pem(armor=False), **overrides)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file behind a plain SQLAlchemy engine."""
    created = create_sync_engine_for(sqlite_url(tmp_path))
    upgrade_sync(created)
    yield created
    created.dispose()


@pytest.fixture
def make_app(clerk_issuer: TokenIssuer, engine: Engine) -> Iterator[AppFactory]:
    """``make_app(**ClerkSync options)``: a Flask app on the migrated engine; every core is closed afterwards."""
    apps: list[Flask] = []

    def build(**options: Any) -> Flask:
        app = Flask(__name__)
        options.setdefault("settings", settings_for(clerk_issuer))
        options.setdefault("engine", engine)
        ClerkSync(app, **options)
        apps.append(app)
        return app

    yield build
    for app in apps:
        state_of(app).close()


class Statements:
    """The SQL statements an engine ran, recorded by SQLAlchemy's own cursor event."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[str] = []
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.seen.append(statement)

    def clear(self) -> None:
        self.seen.clear()

    def watch(self, app: Flask) -> Flask:
        """Also record what the app's store reads on its threads' own connections (``SyncUserReader``), which
        bypass the engine's events."""
        reader = getattr(state_of(app).core.store, "reader", None)
        if reader is not None:
            reader.trace(self.seen.append)
        return app


@pytest.fixture
def statements(engine: Engine) -> Statements:
    """Every statement run on ``engine`` from now on."""
    return Statements(engine)


def json_of(response: Any) -> dict[str, Any]:
    """A test response's JSON document (failing when it has none)."""
    document = response.get_json(force=True)
    assert isinstance(document, dict), response.get_data(as_text=True)
    return document
