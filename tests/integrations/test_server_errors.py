"""End to end: an unexpected exception under a real uvicorn server costs one request, not the connection.

Starlette's ``ServerErrorMiddleware`` re-raises after its 500, so uvicorn logs the traceback a second time and
closes the keep-alive connection; ``install_exception_handlers(all_errors=True)`` ends the exception inside the app.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from clerk_sync.issuer import TokenIssuer
from tests.processes import free_port, started

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def uvicorn_server(log: Path) -> Iterator[str]:
    """``tests.integrations.crashing_app`` under ``python -m uvicorn``; stdout and stderr both go to ``log``."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.integrations.crashing_app:create_app", "--factory"]
    with started([*command, "--host", "127.0.0.1", "--port", str(port)], cwd=REPO, port=port, log=log, ready="/peer"):
        yield f"http://127.0.0.1:{port}"


def test_crash_keeps_the_connection_and_logs_once(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """On one keep-alive connection: a request, a crashing request (problem+json 500), then a request that still
    uses the same TCP connection (the server sees the same client port). The server log holds exactly one
    traceback, with the request's token redacted."""
    token = clerk_issuer.mint("user_crash")
    log = tmp_path / "server.log"
    with uvicorn_server(log) as base:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base, limits=limits, headers={"Authorization": f"Bearer {token}"}) as http:
            before = http.get("/peer").json()["port"]
            crashed = http.get("/crash")
            after = http.get("/peer").json()["port"]
    output = log.read_text()  # the server has exited: everything it logged is in the file
    assert crashed.status_code == 500
    assert crashed.headers["content-type"] == "application/problem+json"
    assert crashed.json()["code"] == "internal-error"
    assert crashed.headers.get("connection") != "close"
    assert after == before, "the 500 closed the keep-alive connection"
    assert output.count("Traceback (most recent call last)") == 1, output
    assert "unhandled error on GET /crash" in output
    assert "RuntimeError: bug while handling [redacted]" in output
    assert token not in output
    assert "Exception in ASGI application" not in output
