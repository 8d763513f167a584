"""The webhook blueprint's answers (applied, duplicate, ignored, 400, 413 by length and by stream, 503 without a
secret) and the probes (``/healthz``, ``/readyz`` naming each part)."""

from __future__ import annotations

import io
import json

from werkzeug.test import EnvironBuilder, run_wsgi_app

from clerk_sync.flask import probes_blueprint, webhook_blueprint
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event, sign_webhook
from tests.flask.conftest import AppFactory, json_of, settings_for


class _CountingStream(io.BytesIO):
    """A request body that counts the bytes the server read from it."""

    handed_out = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.handed_out += len(chunk)
        return chunk


def _event(kind: str, data: dict[str, object]) -> dict[str, object]:
    return {"type": kind, "object": "event", "data": data}


def test_webhook_answers(make_app: AppFactory, clerk_issuer: TokenIssuer) -> None:
    """Applied (``created``), a redelivery ``duplicate``, an unknown type ``ignored``, a forged signature 400, and
    a body over the cap 413, refused by ``Content-Length`` or, without one, after reading at most cap + 1 bytes."""
    secret = make_webhook_secret()
    app = make_app(settings=settings_for(clerk_issuer, webhook_signing_secret=secret))
    app.register_blueprint(webhook_blueprint(max_body_bytes=1000))
    client = app.test_client()
    body, headers = sign_event(_event("user.created", make_user_json("user_hook", email="h@example.com")), secret)
    applied = client.post("/webhooks/clerk", data=body, headers=headers)
    assert applied.json == {"status": "created", "id": headers["svix-id"], "type": "user.created"}
    assert json_of(client.post("/webhooks/clerk", data=body, headers=headers))["status"] == "duplicate"
    body, headers = sign_event(_event("session.created", {"id": "sess_1"}), secret)
    assert json_of(client.post("/webhooks/clerk", data=body, headers=headers))["status"] == "ignored"
    forged = client.post("/webhooks/clerk", data=body, headers=sign_webhook(body, make_webhook_secret()))
    assert (forged.status_code, json_of(forged)["code"]) == (400, "webhook-signature-invalid")
    big = json.dumps(_event("user.created", {"id": "user_big", "pad": "x" * 2000})).encode()
    declared = client.post("/webhooks/clerk", data=big, headers=sign_webhook(big, secret))
    assert (declared.status_code, json_of(declared)["code"]) == (413, "payload-too-large")
    stream = _CountingStream(big)
    environ = EnvironBuilder(
        path="/webhooks/clerk", method="POST", headers=list(sign_webhook(big, secret).items())
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)  # a chunked body: no Content-Length, the server marks the input terminated
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    chunks, status, response_headers = run_wsgi_app(app, environ, buffered=True)
    streamed = app.response_class(b"".join(chunks), status=status, headers=response_headers)
    assert (streamed.status_code, json_of(streamed)["code"]) == (413, "payload-too-large")
    assert stream.handed_out == 1001  # the cap plus one byte, no more


def test_webhook_without_a_secret_is_503_and_not_ready(make_app: AppFactory) -> None:
    """No signing secret: every delivery is 503 ``webhook-signing-secret-missing`` with ``Retry-After`` (Svix retries),
    and ``/readyz`` is 503 naming the webhook part while the rest is ``ok``."""
    app = make_app()
    app.register_blueprint(webhook_blueprint())
    app.register_blueprint(probes_blueprint())
    client = app.test_client()
    response = client.post("/webhooks/clerk", data=b"{}")
    assert response.status_code == 503
    assert json_of(response)["code"] == "webhook-signing-secret-missing"
    assert "Retry-After" in response.headers
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert json_of(ready)["checks"] == {"signing_keys": "ok", "database": "ok", "webhooks": "not configured"}
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_is_200_when_every_part_is_ok(make_app: AppFactory, clerk_issuer: TokenIssuer) -> None:
    """With a key, a migrated database and a secret, ``/readyz`` is 200 ``ok``."""
    app = make_app(settings=settings_for(clerk_issuer, webhook_signing_secret=make_webhook_secret()))
    app.register_blueprint(probes_blueprint())
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200, ready.text
    assert json_of(ready)["status"] == "ok"
