"""Real server processes for end-to-end tests (``clerk-sync serve``, uvicorn): spawn, wait until ready, stop."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["CLI", "clean_env", "free_port", "log_text", "run_cli", "service", "started", "wait_for"]

CLI = shutil.which("clerk-sync", path=str(Path(sys.executable).parent)) or "clerk-sync"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
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


def wait_for(condition: Callable[[], bool], *, timeout: float, failure: Callable[[], str], poll: float = 0.05) -> None:
    """Return as soon as ``condition()`` holds; fail with ``failure()`` when ``timeout`` seconds pass first.

    For waiting on something another process does (no event crosses a process boundary): the wait ends on the
    condition itself, the interval only bounds how often it is checked.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(poll)


@contextmanager
def started(
    command: Sequence[str],
    *,
    cwd: Path,
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    ready: str = "/healthz",
    stdout: int | None = None,
    timeout: float = 30,
) -> Iterator[subprocess.Popen[str]]:
    """Start ``command`` (a server on 127.0.0.1:``port``), wait until ``GET ready`` answers 200, and stop it
    when the block ends (SIGTERM, then SIGKILL after 10 s); once the block is left the process has exited, so
    ``log`` holds everything it wrote.

    stderr goes to the file ``log`` (a file, not a pipe: an unread pipe would fill up and stall the server);
    stdout too, unless ``stdout=subprocess.PIPE`` hands it to the test. Fails with the log when the process
    exits or the deadline passes before it is ready.
    """
    url = f"http://127.0.0.1:{port}{ready}"
    with log.open("w") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=clean_env(env),
            stdout=sink if stdout is None else stdout,
            stderr=sink,
            text=True,
        )
        try:

            def answers() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"{command[0]} exited with {process.returncode}:\n{log.read_text()}")
                try:
                    return httpx.get(url, timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(
                answers, timeout=timeout, failure=lambda: f"{url} did not answer 200 in {timeout} s:\n{log.read_text()}"
            )
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


@contextmanager
def service(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``clerk-sync serve`` until the block ends; yields the base URL and the process (stdout is a pipe the
    test may read, stderr is ``log_text(cwd, port)``)."""
    port = port or free_port()
    command = [CLI, "serve", "--port", str(port), *args]
    with started(
        command, cwd=cwd, port=port, log=cwd / f"service-{port}.log", env=env, stdout=subprocess.PIPE
    ) as process:
        yield f"http://127.0.0.1:{port}", process


def log_text(cwd: Path, port: int) -> str:
    """What a service process wrote to stderr."""
    return (cwd / f"service-{port}.log").read_text()
