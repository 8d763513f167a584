"""The notes API with clerk-sync's test kit: tokens from the ``clerk_issuer`` fixture, webhooks signed by
``sign_event``, the app pointed at the issuer through its config (``CLERK_JWT_KEY``), a fresh SQLite file per test.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from clerk_sync.flask import state_of
from clerk_sync.testing import TokenIssuer, make_webhook_secret, sign_event
from flask_notes.app import create_app, db

SECRET = make_webhook_secret()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "notes.db"


@pytest.fixture
def client(clerk_issuer: TokenIssuer, database: Path) -> Iterator[FlaskClient]:
    """The app as deployed, but trusting the kit's issuer and the test's webhook secret."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "CLERK_JWT_KEY": clerk_issuer.public_pem(),
            "CLERK_WEBHOOK_SIGNING_SECRET": SECRET,
        }
    )
    yield app.test_client()
    state_of(app).close()
    with app.app_context():
        db.engine.dispose()


def auth(issuer: TokenIssuer, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(sub, claims={'email': f'{sub}@example.com'})}"}


def rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    """What is committed, read beside the app."""
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def test_first_request_creates_the_user(client: FlaskClient, clerk_issuer: TokenIssuer, database: Path) -> None:
    """No webhook has arrived, yet the first request finds a user row, and the note points at its database id."""
    assert rows(database, "SELECT * FROM users") == []
    created = client.post("/notes", json={"title": "first"}, headers=auth(clerk_issuer, "user_ada"))
    assert created.status_code == 201, created.text
    [(user_id, email)] = rows(database, "SELECT id, email FROM users WHERE clerk_id = 'user_ada'")
    assert email == "user_ada@example.com"
    assert (created.json or {})["owner_id"] == user_id
    assert rows(database, "SELECT owner_id FROM notes") == [(user_id,)]


def test_notes_are_owner_only(client: FlaskClient, clerk_issuer: TokenIssuer) -> None:
    """Bob neither lists, reads nor deletes Ada's note (404, as if it did not exist); Ada does all three."""
    ada, bob = auth(clerk_issuer, "user_ada"), auth(clerk_issuer, "user_bob")
    note = client.post("/notes", json={"title": "ada's", "body": "secret"}, headers=ada).json
    assert note is not None
    client.post("/notes", json={"title": "bob's"}, headers=bob)

    assert [n["title"] for n in client.get("/notes", headers=bob).json or []] == ["bob's"]
    assert client.get(f"/notes/{note['id']}", headers=bob).status_code == 404
    assert client.delete(f"/notes/{note['id']}", headers=bob).status_code == 404

    assert client.get(f"/notes/{note['id']}", headers=ada).json == note
    assert client.delete(f"/notes/{note['id']}", headers=ada).status_code == 204
    assert client.get(f"/notes/{note['id']}", headers=ada).status_code == 404
    assert client.get("/notes", headers=ada).json == []


def test_a_bad_token_is_a_401_problem(client: FlaskClient, fresh_clerk_issuer: TokenIssuer) -> None:
    """A token signed by a key the app does not trust, and no token at all, are 401 problem+json."""
    forged = client.get("/notes", headers=auth(fresh_clerk_issuer, "user_ada"))
    missing = client.get("/notes")
    for response, code in ((forged, "token-invalid-signature"), (missing, "session-token-missing")):
        assert response.status_code == 401
        assert response.content_type == "application/problem+json"
        assert (response.json or {})["code"] == code


def test_a_signed_user_deleted_webhook_locks_the_user_out(
    client: FlaskClient, clerk_issuer: TokenIssuer, database: Path
) -> None:
    """The signed webhook is accepted; the deleted user's token is then refused (401 user-deleted) while another
    user is unaffected. The user row stays as a tombstone, and so do its notes (see README.md)."""
    ada, bob = auth(clerk_issuer, "user_ada"), auth(clerk_issuer, "user_bob")
    client.post("/notes", json={"title": "kept"}, headers=ada)
    event = {
        "type": "user.deleted",
        "object": "event",
        "timestamp": int(time.time() * 1000) + 1,
        "data": {"deleted": True, "id": "user_ada", "object": "user"},
    }
    body, headers = sign_event(event, SECRET)
    accepted = client.post("/webhooks/clerk", data=body, headers=headers, content_type="application/json")
    assert accepted.status_code == 200, accepted.text

    refused = client.get("/notes", headers=ada)
    assert (refused.status_code, (refused.json or {})["code"]) == (401, "user-deleted")
    assert client.get("/notes", headers=bob).status_code == 200
    assert rows(database, "SELECT count(*) FROM notes") == [(1,)]

    tampered = client.post("/webhooks/clerk", data=body + b" ", headers=headers, content_type="application/json")
    assert tampered.status_code == 400
