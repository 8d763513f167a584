"""Real ``clerk-sync`` processes for end-to-end tests: spawn, wait until healthy, stop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = shutil.which("clerk-sync", path=str(Path(sys.executable).parent)) or "clerk-sync"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test runner's environment without any CLERK_* or DATABASE_URL the developer may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_") and k != "DATABASE_URL"}
    env.update(extra or {})
    return env


def run_cli(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], cwd=cwd, env=clean_env(env), capture_output=True, text=True, timeout=timeout, check=False
    )


@contextmanager
def service(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``clerk-sync serve`` until the block ends; yields the base URL and the process."""
    port = port or free_port()
    log = (cwd / f"service-{port}.log").open("w")
    process = subprocess.Popen(
        [CLI, "serve", "--port", str(port), *args],
        cwd=cwd,
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=log,  # a file, not a pipe: an unread pipe would fill up and stall the server
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.flush()
                raise AssertionError(f"service exited with {process.returncode}:\n{log_text(cwd, port)}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("service did not become healthy in 30 s")
            time.sleep(0.1)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        log.close()


def log_text(cwd: Path, port: int) -> str:
    """What a service process wrote to stderr."""
    return (cwd / f"service-{port}.log").read_text()
