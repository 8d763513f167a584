"""Integration: ``install_exception_handlers`` over HTTP, in a host app of the test's own.

By default only clerk-sync's errors change (the host's 404s and 422s stay FastAPI's); ``all_errors=True`` makes
every refusal a problem document with a stable code and turns a crash into a problem+json 500 from inside the
app's middleware. The real-server half (keep-alive, one log record) is ``test_server_errors.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clerk_sync.errors import DatabaseUnavailableError, TokenExpiredError
from clerk_sync.fastapi import install_exception_handlers

pytestmark = pytest.mark.anyio

PROBLEM_JSON = "application/problem+json"


class Item(BaseModel):
    name: str
    count: int


def host_app(*, all_errors: bool, debug: bool = False) -> FastAPI:
    app = FastAPI(debug=debug)
    install_exception_handlers(app, all_errors=all_errors)

    @app.get("/expired")
    async def expired() -> None:
        raise TokenExpiredError("The token has expired.")

    @app.get("/down")
    async def down() -> None:
        raise DatabaseUnavailableError()

    @app.post("/items")
    async def create(item: Item) -> dict[str, Any]:
        return item.model_dump()

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, detail="Short and stout.", headers={"X-Pot": "1"})

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("a bug")

    return app


def client(app: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "about:blank"
    return body


async def test_default_changes_only_clerk_sync_errors() -> None:
    """Without ``all_errors`` the host keeps FastAPI's own 404 and 422 bodies; clerk-sync's errors are problems."""
    async with client(host_app(all_errors=False)) as http:
        assert_problem(await http.get("/expired"), 401, "token-expired")
        down = assert_problem(await http.get("/down"), 503, "database-unavailable")
        assert down["title"] == "Service Unavailable"
        missing = await http.get("/nowhere")
        invalid = await http.post("/items", json={"name": "x"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert missing.json() == {"detail": "Not Found"}
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/json"
    assert invalid.json()["detail"][0]["loc"] == ["body", "count"]


async def test_default_leaves_the_openapi_422_alone() -> None:
    """The host's OpenAPI document is FastAPI's when the host did not hand its validation errors over."""
    schema = host_app(all_errors=False).openapi()
    responses = schema["paths"]["/items"]["post"]["responses"]
    assert "application/json" in responses["422"]["content"]
    assert "400" not in responses


async def test_all_errors_makes_404_and_405_problems() -> None:
    """No route is 404 ``not-found``; a wrong method is 405 ``method-not-allowed`` and keeps its ``Allow``."""
    async with client(host_app(all_errors=True)) as http:
        missing = assert_problem(await http.get("/nowhere"), 404, "not-found")
        wrong = await http.delete("/items")
    assert "nowhere" not in missing["detail"]
    assert_problem(wrong, 405, "method-not-allowed")
    assert wrong.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": "x", ', "application/json"),
        (b"not json", "application/json"),
        (b'{"name": "\xff", "count": 1}', "application/json"),
        (b"", "application/json; charset=utf-8"),
    ],
    ids=["truncated", "not-json", "not-utf8", "empty"],
)
async def test_all_errors_unparseable_body_is_400(content: bytes, content_type: str) -> None:
    """A body that cannot be decoded at all is 400 ``body-invalid``, not a 422 about fields or a 500."""
    async with client(host_app(all_errors=True)) as http:
        response = await http.post("/items", content=content, headers={"content-type": content_type})
    if content == b"":  # FastAPI reads an empty body as "no body": a missing required body is a schema mismatch
        assert_problem(response, 422, "request-invalid")
    else:
        body = assert_problem(response, 400, "body-invalid")
        assert "errors" not in body


async def test_all_errors_schema_mismatch_is_422_without_the_input() -> None:
    """A parsed body that does not match is 422 ``request-invalid`` listing where and why, never what was sent."""
    async with client(host_app(all_errors=True)) as http:
        response = await http.post("/items", json={"name": "secret-value-123", "count": "many"})
    body = assert_problem(response, 422, "request-invalid")
    assert body["errors"] == [{"loc": ["body", "count"], "msg": body["errors"][0]["msg"], "type": "int_parsing"}]
    assert "secret-value-123" not in response.text
    assert "many" not in response.text


async def test_all_errors_host_http_exception_keeps_status_detail_and_headers() -> None:
    """The host's own ``HTTPException`` becomes a problem with the status's slug as its code."""
    async with client(host_app(all_errors=True)) as http:
        response = await http.get("/teapot")
    body = assert_problem(response, 418, "i-m-a-teapot")
    assert body["detail"] == "Short and stout."
    assert response.headers["x-pot"] == "1"


async def test_all_errors_crash_is_a_problem_500_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected exception answers problem+json 500 ``internal-error`` without the trace; the trace is in
    one log record naming the method and path."""
    caplog.set_level(logging.ERROR)
    async with client(host_app(all_errors=True)) as http:
        response = await http.get("/crash?token=in-the-query")
    body = assert_problem(response, 500, "internal-error")
    assert "a bug" not in response.text
    assert "Traceback" not in body["detail"]
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1
    message = records[0].getMessage()
    assert message.startswith("unhandled error on GET /crash\n")
    assert "RuntimeError: a bug" in message
    assert "in-the-query" not in message


async def test_all_errors_catch_all_sits_inside_the_hosts_middleware() -> None:
    """A middleware the host adds after ``install_exception_handlers`` sees a finished 500, not an exception."""
    app = host_app(all_errors=True)
    seen: list[object] = []

    class Observer:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async def watch(message: Message) -> None:
                if message["type"] == "http.response.start":
                    seen.append(message["status"])
                await send(message)

            try:
                await self.app(scope, receive, watch)
            except Exception as exc:  # what this test is about: it must not get here
                seen.append(exc)
                raise

    app.add_middleware(Observer)
    async with client(app) as http:
        response = await http.get("/crash")
    assert_problem(response, 500, "internal-error")
    assert seen == [500]


async def test_all_errors_leaves_exceptions_from_send_to_the_outer_layers(caplog: pytest.LogCaptureFixture) -> None:
    """What the outer ``send`` raises (a server's disconnect, a body limiter's "already answered" signal) is theirs:
    it passes through untouched and is not logged as an app crash."""

    class AlreadyAnswered(Exception):
        pass

    app = host_app(all_errors=True)
    caught: list[BaseException] = []

    async def outer(scope: Scope, receive: Receive, send: Send) -> None:
        async def refusing(message: Message) -> None:
            raise AlreadyAnswered

        try:
            await app(scope, receive, refusing if scope["type"] == "http" else send)
        except AlreadyAnswered as exc:
            caught.append(exc)
            await send({"type": "http.response.start", "status": 413, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    caplog.set_level(logging.ERROR)
    async with client(outer) as http:
        response = await http.get("/teapot")
    assert response.status_code == 413
    assert len(caught) == 1
    assert [r for r in caplog.records if r.name == "clerk_sync.http"] == []


async def test_all_errors_debug_mode_shows_starlettes_traceback_page() -> None:
    """``FastAPI(debug=True)`` keeps Starlette's debug 500 for crashes, as a developer asked for it."""
    async with client(host_app(all_errors=True, debug=True)) as http:
        response = await http.get("/crash", headers={"accept": "text/html"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "RuntimeError" in response.text


async def test_all_errors_rewrites_the_openapi_422_as_problems() -> None:
    """The OpenAPI document matches what ``all_errors`` sends: problem+json 422 and 400 ``body-invalid``."""
    schema = host_app(all_errors=True).openapi()
    responses = schema["paths"]["/items"]["post"]["responses"]
    for status, code in (("422", "request-invalid"), ("400", "body-invalid")):
        content = responses[status]["content"]
        assert list(content) == [PROBLEM_JSON]
        assert content[PROBLEM_JSON]["schema"]["properties"]["code"]["enum"] == [code]
    assert "errors" in responses["422"]["content"][PROBLEM_JSON]["schema"]["properties"]
    assert "422" not in schema["paths"]["/expired"]["get"]["responses"]


def test_all_errors_refuses_an_app_that_already_started() -> None:
    """Middleware cannot be added to a running app; saying so beats a catch-all that silently is not there."""
    app = FastAPI()
    app.middleware_stack = app.build_middleware_stack()
    with pytest.raises(RuntimeError, match="before the app starts"):
        install_exception_handlers(app, all_errors=True)
