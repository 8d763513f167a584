"""The notes API end to end with clerk-sync's test kit: tokens from the ``clerk_issuer`` fixture, webhooks signed
by ``sign_event``, the app pointed at the issuer through ``CLERK_JWT_KEY``, on a fresh SQLite file per test."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from clerk_sync.testing import TokenIssuer, make_webhook_secret, sign_event
from fastapi_notes.app import create_app

SECRET = make_webhook_secret()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "notes.db"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server (lifespan included) on a free port; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def client(clerk_issuer: TokenIssuer, database: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    """The app as deployed, but trusting the kit's issuer and the test's webhook secret."""
    monkeypatch.setenv("CLERK_JWT_KEY", clerk_issuer.public_pem())
    monkeypatch.setenv("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)
    with serve(create_app(f"sqlite+aiosqlite:///{database}")) as base_url, httpx.Client(base_url=base_url) as client:
        yield client


def auth(issuer: TokenIssuer, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(sub, claims={'email': f'{sub}@example.com'})}"}


def rows(database: Path, sql: str) -> list[tuple[object, ...]]:
    """What is committed, read beside the app."""
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def test_first_request_creates_the_user(client: httpx.Client, clerk_issuer: TokenIssuer, database: Path) -> None:
    """No webhook has arrived, yet the first request finds a user row, and the note points at its database id."""
    assert rows(database, "SELECT * FROM users") == []
    created = client.post("/notes", json={"title": "first"}, headers=auth(clerk_issuer, "user_ada"))
    assert created.status_code == 201, created.text
    [(user_id, email)] = rows(database, "SELECT id, email FROM users WHERE clerk_id = 'user_ada'")
    assert email == "user_ada@example.com"
    assert created.json()["owner_id"] == user_id
    assert rows(database, "SELECT owner_id FROM notes") == [(user_id,)]


def test_notes_are_owner_only(client: httpx.Client, clerk_issuer: TokenIssuer) -> None:
    """Bob neither lists, reads nor deletes Ada's note (404, as if it did not exist); Ada does all three."""
    ada, bob = auth(clerk_issuer, "user_ada"), auth(clerk_issuer, "user_bob")
    note = client.post("/notes", json={"title": "ada's", "body": "secret"}, headers=ada).json()
    client.post("/notes", json={"title": "bob's"}, headers=bob)

    assert [n["title"] for n in client.get("/notes", headers=bob).json()] == ["bob's"]
    assert client.get(f"/notes/{note['id']}", headers=bob).status_code == 404
    assert client.delete(f"/notes/{note['id']}", headers=bob).status_code == 404

    assert client.get(f"/notes/{note['id']}", headers=ada).json() == note
    assert client.delete(f"/notes/{note['id']}", headers=ada).status_code == 204
    assert client.get(f"/notes/{note['id']}", headers=ada).status_code == 404
    assert client.get("/notes", headers=ada).json() == []


def test_a_bad_token_is_a_401_problem(client: httpx.Client, fresh_clerk_issuer: TokenIssuer) -> None:
    """A token signed by a key the app does not trust, and no token at all, are 401 problem+json."""
    forged = client.get("/notes", headers=auth(fresh_clerk_issuer, "user_ada"))
    missing = client.get("/notes")
    for response, code in ((forged, "token-invalid-signature"), (missing, "session-token-missing")):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code


def test_a_signed_user_deleted_webhook_locks_the_user_out(
    client: httpx.Client, clerk_issuer: TokenIssuer, database: Path
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
    accepted = client.post("/webhooks/clerk", content=body, headers=headers)
    assert accepted.status_code == 200, accepted.text

    refused = client.get("/notes", headers=ada)
    assert (refused.status_code, refused.json()["code"]) == (401, "user-deleted")
    assert client.get("/notes", headers=bob).status_code == 200
    assert rows(database, "SELECT count(*) FROM notes") == [(1,)]

    tampered = client.post("/webhooks/clerk", content=body + b" ", headers=headers)
    assert tampered.status_code == 400
