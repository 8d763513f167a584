"""``clerk-sync serve --framework flask``: the Flask reference app on gunicorn's threaded worker (``gthread``).

A WSGI app is served by threads: each worker process runs ``THREADS`` request threads on one open core (every
piece of it is thread-safe). Worker processes build their own app after the fork (no pool or HTTP client
crosses it); ``validate`` builds one in the command's process and closes it before any worker starts.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication  # gunicorn ships no hints

from clerk_sync.flask import state_of
from clerk_sync.service.flask_app import THREADS, create_app
from clerk_sync.service.serving import DEV_ENV, ServeOptions, alembic_upgrade
from clerk_sync.service.settings import ServiceSettings
from clerk_sync.settings import load_settings

__all__ = ["THREADS", "run", "service_app", "upgrade", "validate"]


def service_app() -> Flask:
    """The reference service as one worker builds it."""
    return create_app(ServiceSettings(), load_settings(), dev=os.environ.get(DEV_ENV) == "1")


def validate(dev: bool) -> None:
    app = create_app(ServiceSettings(), load_settings(), dev=dev)
    state_of(app).close()


def upgrade(database_url: str) -> None:
    alembic_upgrade(database_url)


class _Gunicorn(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    """gunicorn configured in code (no config file, no command line of its own)."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self._options.items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return service_app()


def run(options: ServeOptions) -> None:
    os.environ[DEV_ENV] = "1" if options.dev else "0"
    database_url = ServiceSettings().database_url
    if database_url.startswith("sqlite"):  # once here, so the workers' start-up migrations find nothing to race
        upgrade(database_url)
    _Gunicorn(
        {
            "bind": [f"{options.host}:{options.port}"],
            "workers": options.workers,
            "worker_class": "gthread",
            "threads": THREADS,
            "accesslog": "-" if options.access_log else None,
            "errorlog": "-",
            "loglevel": "info",
            "graceful_timeout": 5,
        }
    ).run()
