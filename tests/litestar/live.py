"""Serve an ASGI app on a real uvicorn server (lifespan on) in a thread, for the adapters' HTTP tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.processes import wait_for

__all__ = ["live_server"]


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Yield the base URL of ``app`` served on 127.0.0.1 until the block ends; the lifespan runs around it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="warning", access_log=False, ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def up() -> bool:
        assert thread.is_alive(), "uvicorn stopped while starting"
        return server.started

    wait_for(up, timeout=10, failure=lambda: "uvicorn did not start within 10 s", poll=0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
