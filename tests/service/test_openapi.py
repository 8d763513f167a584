"""The reference service's OpenAPI document tells the truth: each route names its refusals, and real responses
(including the 503s a healthy service never gives, so schemathesis cannot see them) match what it documents.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs  # schemathesis's own validator (a dependency of it)
import pytest

from clerk_sync.issuer import TokenIssuer
from clerk_sync.service import ServiceSettings, create_app
from clerk_sync.settings import ClerkSettings
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event
from tests.asgi import serving

pytestmark = pytest.mark.anyio

PROBLEM_JSON = "application/problem+json"
SECRET = make_webhook_secret()


@asynccontextmanager
async def reference(
    tmp_path: Path, issuer: TokenIssuer, *, secret: str | None = SECRET
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    settings = ClerkSettings(jwt_key=issuer.public_pem(), webhook_signing_secret=secret)
    app = create_app(ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/openapi.db"), settings)
    async with serving(app) as client:
        yield client, (await client.get("/openapi.json")).json()


def documented(openapi: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    response: dict[str, Any] = openapi["paths"][path][method]["responses"][str(status)]
    return response


def assert_conforms(openapi: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """The response's status, media type, headers and body are the ones the document gives for them."""
    spec = documented(openapi, path, method, response.status_code)
    media_type = response.headers["content-type"].split(";")[0]
    assert list(spec["content"]) == [media_type]
    schema = {**spec["content"][media_type]["schema"], "components": openapi.get("components", {})}
    errors = [error.message for error in jsonschema_rs.validator_for(schema).iter_errors(response.json())]
    assert errors == [], (response.json(), errors)
    for name, header in spec.get("headers", {}).items():
        if header.get("required"):
            assert name.lower() in response.headers, name


async def test_token_routes_document_401_and_503_problems(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """/me and /me/claims document 401 (with WWW-Authenticate) and 503 (with Retry-After) as problem+json, with
    Clerk's reason codes; a real 401 of each kind matches."""
    async with reference(tmp_path, clerk_issuer) as (client, openapi):
        for path in ("/me", "/me/claims"):
            unauthorized = documented(openapi, path, "get", 401)
            assert list(unauthorized["content"]) == [PROBLEM_JSON]
            assert unauthorized["headers"]["WWW-Authenticate"]["required"] is True
            codes = unauthorized["content"][PROBLEM_JSON]["schema"]["properties"]["code"]["enum"]
            assert {"session-token-missing", "token-expired", "token-invalid-signature"} <= set(codes)
            unavailable = documented(openapi, path, "get", 503)
            assert unavailable["headers"]["Retry-After"]["schema"]["type"] == "integer"
            assert (
                "jwk-remote-failed-to-load"
                in unavailable["content"][PROBLEM_JSON]["schema"]["properties"]["code"]["enum"]
            )
            assert_conforms(openapi, path, "get", await client.get(path))
            expired = clerk_issuer.mint("user_old", now=1_600_000_000)
            assert_conforms(
                openapi, path, "get", await client.get(path, headers={"Authorization": f"Bearer {expired}"})
            )
        assert "database-unavailable" in str(documented(openapi, "/me", "get", 503))
        token = clerk_issuer.mint("user_doc", claims={"email": "doc@example.com"})
        for path in ("/me", "/me/claims"):
            assert_conforms(openapi, path, "get", await client.get(path, headers={"Authorization": f"Bearer {token}"}))


async def test_webhook_route_documents_headers_body_and_refusals(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """The webhook route names the three Svix headers and the event body (FastAPI does not parse it), and its
    200, 400, 413 and 503 answers; real answers match, including the 503 of a service without a secret."""
    async with reference(tmp_path, clerk_issuer) as (client, openapi):
        operation = openapi["paths"]["/webhooks/clerk"]["post"]
        headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        assert set(headers) == {"svix-id", "svix-timestamp", "svix-signature"}
        assert all(header["required"] for header in headers.values())
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert set(body["required"]) == {"type", "data"}
        assert set(operation["responses"]) == {"200", "400", "413", "503"}
        assert "payload-too-large" in str(operation["responses"]["413"])
        event = {"type": "user.created", "object": "event", "data": make_user_json("user_doc"), "timestamp": 1}
        signed, svix = sign_event(event, SECRET)
        assert_conforms(
            openapi, "/webhooks/clerk", "post", await client.post("/webhooks/clerk", content=signed, headers=svix)
        )
        forged = await client.post("/webhooks/clerk", content=signed, headers={**svix, "svix-signature": "v1,AAAA"})
        assert forged.json()["code"] == "webhook-signature-invalid"
        assert_conforms(openapi, "/webhooks/clerk", "post", forged)
        too_big = await client.post("/webhooks/clerk", content=b"x" * (1024 * 1024 + 1), headers=svix)
        assert_conforms(openapi, "/webhooks/clerk", "post", too_big)
    async with reference(tmp_path, clerk_issuer, secret=None) as (client, openapi):
        unconfigured = await client.post("/webhooks/clerk", content=signed, headers=svix)
        assert unconfigured.status_code == 503
        assert_conforms(openapi, "/webhooks/clerk", "post", unconfigured)


async def test_readyz_is_not_ok_without_a_webhook_secret(
    tmp_path: Path, clerk_issuer: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    """The service always mounts the webhook route; without a secret that route can only answer 503, so /readyz
    is 503 with ``checks.webhooks == "not configured"`` (documented body) and start-up says so once; with a
    secret it is 200."""
    caplog.set_level(logging.WARNING, logger="clerk_sync")
    async with reference(tmp_path, clerk_issuer, secret=None) as (client, openapi):
        warned = [r.getMessage() for r in caplog.records if "CLERK_WEBHOOK_SIGNING_SECRET" in r.getMessage()]
        assert warned == [
            "CLERK_WEBHOOK_SIGNING_SECRET is not set: POST /webhooks/clerk answers 503 and /readyz is not ready"
        ]
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["checks"] == {"signing_keys": "ok", "database": "ok", "webhooks": "not configured"}
        assert_conforms(openapi, "/readyz", "get", response)
    async with reference(tmp_path, clerk_issuer) as (client, openapi):
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"]["webhooks"] == "ok"
        assert_conforms(openapi, "/readyz", "get", response)


async def test_other_routes_document_their_bodies(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """/healthz, /readyz (200 and 503) and /metrics (Prometheus text) state what they send."""
    async with reference(tmp_path, clerk_issuer) as (client, openapi):
        assert_conforms(openapi, "/healthz", "get", await client.get("/healthz"))
        assert set(openapi["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}
        metrics = documented(openapi, "/metrics", "get", 200)
        assert list(metrics["content"]) == ["text/plain"]
        assert (await client.get("/metrics")).headers["content-type"].startswith("text/plain")


async def test_every_error_response_is_problem_json(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """No operation documents an error as anything but application/problem+json, nor a 422 it cannot send (no
    route of the service has FastAPI-parsed parameters), and each status's schema fixes ``status``."""
    async with reference(tmp_path, clerk_issuer) as (_, openapi):
        errors = [
            (path, status, response)
            for path, item in openapi["paths"].items()
            for operation in item.values()
            for status, response in operation["responses"].items()
            if status.startswith(("4", "5")) and not (path == "/readyz" and status == "503")
        ]
    assert len(errors) >= 7
    for path, status, response in errors:
        assert status != "422", path
        assert list(response["content"]) == [PROBLEM_JSON], (path, status)
        assert response["content"][PROBLEM_JSON]["schema"]["properties"]["status"]["const"] == int(status)


async def test_reference_service_refuses_unknown_paths_and_methods_as_problems(
    tmp_path: Path, clerk_issuer: TokenIssuer
) -> None:
    """The service opts in to ``all_errors``: a path it does not serve is a 404 problem, a method a path does not
    accept a 405 problem keeping ``Allow``."""
    async with reference(tmp_path, clerk_issuer) as (client, _):
        missing = await client.get("/nope")
        wrong = await client.delete("/me")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_JSON
    assert missing.json()["code"] == "not-found"
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM_JSON
    assert wrong.json()["code"] == "method-not-allowed"
    assert wrong.headers["allow"] == "GET"
