"""Problem+json for everything with ``all_errors=True``: 404, 405 with ``Allow``, and a crash as a 500 logged once
with the request's credentials redacted; without it, the app's own 404 stays Flask's."""

from __future__ import annotations

import logging

import pytest

from clerk_sync.errors import DatabaseUnavailableError
from clerk_sync.flask import clerk_required
from clerk_sync.issuer import TokenIssuer
from tests.flask.conftest import AppFactory, json_of


def test_all_errors_renders_refusals_and_crashes(
    make_app: AppFactory, clerk_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """404 ``not-found``, 405 ``method-not-allowed`` with ``Allow``, and a crash whose message quotes the token:
    a problem+json 500 and exactly one log record, which does not contain the token."""
    app = make_app(all_errors=True)
    token = clerk_issuer.mint("user_crash")

    @app.get("/crash")
    @clerk_required
    def crash() -> str:
        raise RuntimeError(f"boom with {token}")

    client = app.test_client()
    missing = client.get("/nowhere")
    assert (missing.status_code, missing.content_type) == (404, "application/problem+json")
    assert json_of(missing)["code"] == "not-found"
    wrong = client.delete("/crash")
    assert wrong.status_code == 405
    assert json_of(wrong)["code"] == "method-not-allowed"
    assert "GET" in wrong.headers["Allow"]
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        crashed = client.get("/crash", headers={"Authorization": f"Bearer {token}", "Cookie": f"__session={token}"})
    assert (crashed.status_code, crashed.content_type) == (500, "application/problem+json")
    assert json_of(crashed)["code"] == "internal-error"
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 1
    text = errors[0].getMessage()
    assert "RuntimeError" in text
    assert "[redacted]" in text
    assert token not in text


def test_clerk_errors_carry_their_status_and_headers(make_app: AppFactory) -> None:
    """The one ``ClerkSyncError`` handler takes status and headers from ``problem_for``: a database outage is a
    503 with ``Retry-After``; the app's own 404 is left as Flask renders it."""
    app = make_app()

    @app.get("/down")
    def down() -> str:
        raise DatabaseUnavailableError()

    client = app.test_client()
    response = client.get("/down")
    assert (response.status_code, response.content_type) == (503, "application/problem+json")
    assert json_of(response)["code"] == "database-unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert client.get("/nowhere").content_type.startswith("text/html")
