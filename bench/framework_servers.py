"""How ``bench.compare --framework NAME`` serves an app: the server and settings of that framework's reference app.

A comparison is only fair when every app runs on the same server with the same settings, so this module takes
them from the reference apps' own server modules instead of restating them: FastAPI and Litestar on one uvicorn
worker (``bench.http_rps.start_server``: access log off), Flask and Django on one gunicorn ``gthread`` worker
with the reference app's ``THREADS`` (``clerk_sync.service.flask_server`` / ``django_server``), access log off.
An ``App`` names what to serve: a uvicorn factory, a gunicorn WSGI target (``module:callable()``), and for
Django the settings module the WSGI application reads.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.http_rps import free_port, start_server, wait_healthy

__all__ = ["DJANGO_WSGI", "App", "describe", "serve", "threads_of"]

#: Django's own WSGI entry point; the settings module (``App.env``) decides which project it serves.
DJANGO_WSGI = "django.core.wsgi:get_wsgi_application()"


@dataclass(frozen=True)
class App:
    """One app to serve: ``target`` is a uvicorn factory or a gunicorn WSGI target; ``env`` is added to the
    process environment (``DJANGO_SETTINGS_MODULE``)."""

    target: str
    path: str = "/me"
    env: dict[str, str] = field(default_factory=dict)


def threads_of(framework: str) -> int:
    """The request threads of a WSGI reference app's worker (0 for the ASGI ones, which have none)."""
    if framework == "flask":
        from clerk_sync.service.flask_server import THREADS as flask_threads

        return flask_threads
    if framework == "django":
        from clerk_sync.service.django_server import THREADS as django_threads

        return django_threads
    return 0


def describe(framework: str) -> str:
    """The server and its settings, for the report's heading."""
    threads = threads_of(framework)
    if threads:
        return f"one gunicorn gthread worker, {threads} threads, access log off (as `clerk-sync serve`)"
    return "one uvicorn worker, access log off"


def serve(framework: str, app: App, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``app`` as ``framework``'s reference app is served; returns once ``/healthz`` answers 200."""
    threads = threads_of(framework)
    if not threads:
        return start_server(app.target, {**env, **app.env}, cwd)
    port = free_port()
    command = [str(Path(sys.executable).parent / "gunicorn"), "--worker-class", "gthread", "--workers", "1"]
    command += ["--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    command += ["--graceful-timeout", "5", "--no-control-socket", app.target]
    process = subprocess.Popen(command, env={**env, **app.env}, cwd=cwd)
    return process, wait_healthy(process, port, f"{app.target} ({app.env})")
