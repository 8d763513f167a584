"""``clerk-sync serve --framework django``: the Django reference project on gunicorn (see ``serving``).

gunicorn's threaded workers (``gthread``) serve the WSGI app: the project is synchronous (``SyncClerkCore`` on
the Django ORM), each thread keeps its own database connection, and ``--workers N`` forks N processes that
each open their own root on first use. The embedded SQLite default is migrated once, in the master, before any
worker starts; a server database is brought up to date by ``clerk-sync db upgrade --framework django``.
"""

from __future__ import annotations

import os
from typing import Any

from clerk_sync.service.serving import DEV_ENV, ServeOptions

__all__ = ["SETTINGS_MODULE", "THREADS", "run", "upgrade", "validate"]

SETTINGS_MODULE = "clerk_sync.service.django_project.settings"

#: Threads per worker: concurrent requests one process serves (more queue in gunicorn, none are refused).
THREADS = 16


def _setup(dev: bool, database_url: str | None = None) -> None:
    """Configure Django for this process with the project's settings (read once: env first)."""
    os.environ[DEV_ENV] = "1" if dev else "0"
    if database_url is not None:
        os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()


def validate(dev: bool) -> None:
    """Open (and close) the root once, so a configuration that cannot work stops the command with one line."""
    _setup(dev)
    from clerk_sync.django.runtime import get_core, reset

    core = get_core()
    if core.settings.webhook_signing_secret is None:
        import logging

        logging.getLogger("clerk_sync").warning(
            "CLERK_WEBHOOK_SIGNING_SECRET is not set: POST /webhooks/clerk answers 503 and /readyz is not ready"
        )
    reset()


def upgrade(database_url: str) -> None:
    """Django's ``migrate`` for ``DATABASE_URL``."""
    _setup(os.environ.get(DEV_ENV) == "1", database_url)
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", interactive=False, verbosity=0)
    connections.close_all()


def run(options: ServeOptions) -> None:
    """Serve on gunicorn until stopped (SIGTERM/SIGINT: graceful)."""
    from gunicorn.app.base import BaseApplication

    from clerk_sync.service.django_project.database import is_embedded
    from clerk_sync.service.settings import ServiceSettings

    database_url = ServiceSettings().database_url
    _setup(options.dev, database_url)
    if is_embedded(database_url):
        upgrade(database_url)  # once here, so the workers' first requests find the schema

    config: dict[str, Any] = {
        "bind": f"{options.host}:{options.port}",
        "workers": options.workers,
        "worker_class": "gthread",
        "threads": THREADS,
        "accesslog": "-" if options.access_log else None,
        "errorlog": "-",
        "loglevel": "info",
        "graceful_timeout": 10,
        "worker_exit": _worker_exit,
        "control_socket_disable": True,  # one per user by default: parallel services would share it
    }

    class Service(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in config.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from django.core.wsgi import get_wsgi_application

            return get_wsgi_application()

    Service().run()


def _worker_exit(server: Any, worker: Any) -> None:
    """Close the worker's root (its HTTP client) as the worker stops."""
    from clerk_sync.django.runtime import reset

    reset()
