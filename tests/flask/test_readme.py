"""The README's Flask section works as written: the block after its marker comment, executed as is in a fresh
namespace, is an app that syncs the user of a token signed by the test kit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from clerk_sync.db import create_sync_engine_for, upgrade_sync
from clerk_sync.flask import state_of
from clerk_sync.issuer import TokenIssuer
from tests.databases import sqlite_url
from tests.flask.conftest import json_of

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- flask-example:"


def readme_block() -> str:
    """The fenced Python block right after the marker comment."""
    text = README.read_text()
    found = re.search(re.escape(MARKER) + r".*?-->\n```python\n(.*?)\n```", text, re.DOTALL)
    assert found is not None, "the README's Flask section lost its marked example"
    return found.group(1)


def test_the_readme_flask_example_serves_a_synced_user(
    clerk_issuer: TokenIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``CLERK_JWT_KEY`` and ``DATABASE_URL`` in the environment (migrated as the README says), the example's
    ``/me`` creates the row on first sight and answers it again; ``/me`` without a token is a 401 problem."""
    url = sqlite_url(tmp_path)
    engine = create_sync_engine_for(url)
    upgrade_sync(engine)
    engine.dispose()
    monkeypatch.setenv("CLERK_JWT_KEY", clerk_issuer.public_pem(armor=False))
    monkeypatch.setenv("DATABASE_URL", url)
    namespace: dict[str, Any] = {"__name__": "readme_app"}
    exec(compile(readme_block(), str(README), "exec"), namespace)  # the README's own lines
    app = namespace["app"]
    assert isinstance(app, Flask)
    try:
        client = app.test_client()
        token = clerk_issuer.mint("user_readme", claims={"email": "readme@example.com"})
        first = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert first.status_code == 200, first.text
        assert json_of(first)["email"] == "readme@example.com"
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json == json_of(first)
        anonymous = client.get("/me")
        assert (anonymous.status_code, anonymous.content_type) == (401, "application/problem+json")
        assert client.get("/readyz").status_code == 503  # no webhook secret configured: not ready, and says so
    finally:
        state_of(app).close()
