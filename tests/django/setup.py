"""Apply ``tests.django.settings`` once per process (``settings.configure`` + ``django.setup``).

Called by ``tests/django/conftest.py`` and by the suite-wide tests that import every module of the package
(``tests/test_public_api.py``), so Django's settings exist only in processes that run Django code.
"""

from __future__ import annotations

import os
from typing import Any

import django
import psycopg
from django.conf import settings

from tests.django import settings as test_settings

__all__ = ["configure", "postgres_problem"]


def postgres_problem() -> str | None:
    """Why the PostgreSQL server cannot be used (None: it can)."""
    config = test_settings.DATABASES["postgres"]
    try:
        psycopg.connect(
            host=config["HOST"],
            port=config["PORT"],
            user=config["USER"],
            password=config["PASSWORD"],
            dbname="postgres",
            connect_timeout=5,
        ).close()
    except psycopg.Error as error:
        return f"PostgreSQL at {config['HOST']}:{config['PORT']} is unreachable: {error!r}"
    return None


def configure() -> str | None:
    """Configure Django for the tests (idempotent); returns why PostgreSQL is unusable, if it is.

    Without a reachable server (and outside CI) the ``postgres`` alias is left out, so building the SQLite test
    database does not fail on it; under ``CI=true`` it stays, and its test database fails to build.
    """
    problem = postgres_problem()
    if not settings.configured:
        values: dict[str, Any] = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
        if problem is not None and os.environ.get("CI") != "true":
            values["DATABASES"] = {k: v for k, v in values["DATABASES"].items() if k != "postgres"}
        settings.configure(**values)
        django.setup()
    return problem
