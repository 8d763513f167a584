"""The extension in Flask's conventions: ``ClerkSync(app)``, application factories with ``init_app``, settings from
the environment overridden by ``app.config``, state in ``app.extensions``, one core per app, closed once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, event
from sqlalchemy.pool import QueuePool

from clerk_sync.core import SyncClerkCore
from clerk_sync.db import SQLAlchemyStore
from clerk_sync.errors import ConfigurationError
from clerk_sync.flask import ClerkSync, clerk_required, current_claims, current_user, state_of
from clerk_sync.issuer import TokenIssuer
from tests.databases import sqlite_url
from tests.flask.conftest import json_of


def _app_factory(clerk: ClerkSync, config: dict[str, object]) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    clerk.init_app(app)

    @app.get("/whoami")
    @clerk_required
    def whoami() -> dict[str, object]:
        return {"sub": current_claims.sub, "id": current_user.id}

    return app


def test_init_app_serves_each_app_with_its_own_core_and_config(
    clerk_issuer: TokenIssuer, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ``ClerkSync()`` for an app factory: each app gets its own open core in ``app.extensions``, with settings
    from ``app.config`` (``CLERK_JWT_KEY`` here) winning over the environment's."""
    other = TokenIssuer()
    monkeypatch.setenv("CLERK_JWT_KEY", other.public_pem(armor=False))  # app.config must override this
    clerk = ClerkSync(engine=engine)
    first = _app_factory(clerk, {"CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False)})
    second = _app_factory(clerk, {})
    try:
        assert isinstance(state_of(first).core, SyncClerkCore)
        assert state_of(first).core is not state_of(second).core
        token = clerk_issuer.mint("user_factory")
        response = first.test_client().get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert json_of(response)["sub"] == "user_factory"
        # The second app kept the environment's key: the first issuer's token does not verify there.
        refused = second.test_client().get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert (refused.status_code, json_of(refused)["code"]) == (401, "token-invalid-signature")
        accepted = second.test_client().get("/whoami", headers={"Authorization": f"Bearer {other.mint('user_env')}"})
        assert accepted.status_code == 200, accepted.text
    finally:
        state_of(first).close()
        state_of(second).close()


def test_database_url_from_app_config_and_migrate(clerk_issuer: TokenIssuer, tmp_path: Path) -> None:
    """``CLERK_SYNC_DATABASE_URL`` in ``app.config`` (the async URL form, as ``DATABASE_URL`` is written for the
    other adapters) is storage; ``migrate=True`` creates the schema at ``init_app``; the user is synced there."""
    clerk = ClerkSync(migrate=True)
    app = _app_factory(
        clerk,
        {"CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False), "CLERK_SYNC_DATABASE_URL": sqlite_url(tmp_path)},
    )
    try:
        token = clerk_issuer.mint("user_config_db")
        response = app.test_client().get("/whoami", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert (tmp_path / "clerk_sync.db").exists()
    finally:
        state_of(app).close()


def test_pool_size_keeps_one_connection_per_request_thread(clerk_issuer: TokenIssuer, tmp_path: Path) -> None:
    """``pool_size`` sizes the engine built from a URL with no overflow: four threads syncing at once keep the
    connections they opened, instead of opening and closing one per request beyond SQLAlchemy's default. At
    most eight: the pool's four (first-sight writes) and each thread's own reader connection (steady-state
    reads); later rounds open none."""
    clerk = ClerkSync(migrate=True, pool_size=4)
    app = _app_factory(
        clerk,
        {"CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False), "CLERK_SYNC_DATABASE_URL": sqlite_url(tmp_path)},
    )
    try:
        store = state_of(app).core.store
        assert isinstance(store, SQLAlchemyStore)
        engine = store.sessionmaker.kw["bind"]
        assert isinstance(engine.pool, QueuePool)
        assert (engine.pool.size(), engine.pool._max_overflow) == (4, 0)
        opened: list[object] = []
        event.listen(engine, "connect", lambda *_: opened.append(1))
        token = clerk_issuer.mint("user_pooled")

        def whoami(_: int) -> int:
            return app.test_client().get("/whoami", headers={"Authorization": f"Bearer {token}"}).status_code

        with ThreadPoolExecutor(4) as threads:
            assert list(threads.map(whoami, range(8))) == [200] * 8
            after_first_round = len(opened)
            for _ in range(3):
                assert list(threads.map(whoami, range(8))) == [200] * 8
        assert after_first_round <= 8
        assert len(opened) == after_first_round
    finally:
        state_of(app).close()


def test_state_errors_and_close(clerk_issuer: TokenIssuer, engine: Engine) -> None:
    """An app never given to the extension, or given twice, is a clear configuration error; ``close`` closes the
    core (it refuses work afterwards) and is idempotent."""
    bare = Flask(__name__)
    with pytest.raises(ConfigurationError, match="not initialised"):
        state_of(bare)
    app = Flask(__name__)
    app.config["CLERK_JWT_KEY"] = clerk_issuer.public_pem(armor=False)
    clerk = ClerkSync(app, engine=engine)
    with pytest.raises(ConfigurationError, match="already initialised"):
        clerk.init_app(app)
    state = state_of(app)
    state.close()
    state.close()
    with pytest.raises(ConfigurationError, match="not started"):
        state.core.authenticate(None, {})


def test_a_bad_setting_in_app_config_names_the_variable(engine: Engine) -> None:
    """``app.config`` values go through the same validation as the environment: one line naming the variable."""
    app = Flask(__name__)
    app.config["CLERK_WEBHOOK_SIGNING_SECRET"] = "not-a-secret"
    app.config["CLERK_JWT_KEY"] = TokenIssuer().public_pem(armor=False)
    with pytest.raises(ConfigurationError, match="CLERK_WEBHOOK_SIGNING_SECRET"):
        ClerkSync(app, engine=engine)
