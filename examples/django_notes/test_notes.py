"""The notes API with clerk-sync's test kit under pytest-django: tokens from the ``clerk_issuer`` fixture (trusted
for each test by ``trust_issuer``), webhooks signed by ``sign_event``, Django's test client and test database."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from notes.models import Note

from clerk_sync.django.testing import trust_issuer
from clerk_sync.testing import TokenIssuer, make_webhook_secret, sign_event

SECRET = make_webhook_secret()

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def trusted(clerk_issuer: TokenIssuer) -> Iterator[None]:
    """The app trusts the kit's issuer and the test's webhook secret, as CLERK_* would in production."""
    with trust_issuer(clerk_issuer, webhook_signing_secret=SECRET):
        yield


def auth(issuer: TokenIssuer, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(sub, claims={'email': f'{sub}@example.com'})}"}


def body(response: Any) -> Any:
    return json.loads(response.content)


def test_first_request_creates_the_user(client: Client, clerk_issuer: TokenIssuer) -> None:
    """No webhook has arrived, yet the first request finds a user row, and the note points at its database id."""
    users = apps.get_model("clerk_sync", "ClerkUser").objects
    assert not users.exists()
    created = client.post(
        "/notes", {"title": "first"}, content_type="application/json", headers=auth(clerk_issuer, "user_ada")
    )
    assert created.status_code == 201, created.content
    user = users.get(clerk_id="user_ada")
    assert user.email == "user_ada@example.com"
    assert body(created)["owner_id"] == user.pk
    assert Note.objects.get().owner == user


def test_notes_are_owner_only(client: Client, clerk_issuer: TokenIssuer) -> None:
    """Bob neither lists, reads nor deletes Ada's note (404, as if it did not exist); Ada does all three."""
    ada, bob = auth(clerk_issuer, "user_ada"), auth(clerk_issuer, "user_bob")
    note = body(client.post("/notes", {"title": "ada's"}, content_type="application/json", headers=ada))
    client.post("/notes", {"title": "bob's"}, content_type="application/json", headers=bob)

    assert [n["title"] for n in body(client.get("/notes", headers=bob))] == ["bob's"]
    assert client.get(f"/notes/{note['id']}", headers=bob).status_code == 404
    assert client.delete(f"/notes/{note['id']}", headers=bob).status_code == 404

    assert body(client.get(f"/notes/{note['id']}", headers=ada)) == note
    assert client.delete(f"/notes/{note['id']}", headers=ada).status_code == 204
    assert client.get(f"/notes/{note['id']}", headers=ada).status_code == 404
    assert body(client.get("/notes", headers=ada)) == []


def test_a_bad_token_is_a_401_problem(client: Client, fresh_clerk_issuer: TokenIssuer) -> None:
    """A token signed by a key the app does not trust, and no token at all, are 401 problem+json."""
    forged = client.get("/notes", headers=auth(fresh_clerk_issuer, "user_ada"))
    missing = client.get("/notes")
    for response, code in ((forged, "token-invalid-signature"), (missing, "session-token-missing")):
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"
        assert body(response)["code"] == code


def test_a_signed_user_deleted_webhook_locks_the_user_out(client: Client, clerk_issuer: TokenIssuer) -> None:
    """The signed webhook is accepted; the deleted user's token is then refused (401 user-deleted) while another
    user is unaffected. The user row stays as a tombstone, and so do its notes (see README.md)."""
    ada, bob = auth(clerk_issuer, "user_ada"), auth(clerk_issuer, "user_bob")
    client.post("/notes", {"title": "kept"}, content_type="application/json", headers=ada)
    event = {
        "type": "user.deleted",
        "object": "event",
        "timestamp": int(time.time() * 1000) + 1,
        "data": {"deleted": True, "id": "user_ada", "object": "user"},
    }
    raw, headers = sign_event(event, SECRET)
    accepted = client.post("/webhooks/clerk", raw, content_type="application/json", headers=headers)
    assert accepted.status_code == 200, accepted.content

    refused = client.get("/notes", headers=ada)
    assert (refused.status_code, body(refused)["code"]) == (401, "user-deleted")
    assert client.get("/notes", headers=bob).status_code == 200
    assert Note.objects.filter(owner__clerk_id="user_ada").count() == 1

    tampered = client.post("/webhooks/clerk", raw + b" ", content_type="application/json", headers=headers)
    assert tampered.status_code == 400
