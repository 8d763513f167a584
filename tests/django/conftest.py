"""Django for tests/django only: ``settings.configure`` from ``tests.django.settings`` when this directory is
collected, so the rest of the suite never sees Django settings (and one ``python -m pytest`` runs everything).

pytest-django then creates the test databases the collected tests ask for (``django_db(databases=...)``),
running the migrations, and drops them at the end. PostgreSQL is the server at ``CLERK_SYNC_TEST_POSTGRES``;
when it is unreachable the PostgreSQL cases are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.conf import settings

import django
from tests.django import settings as test_settings


def _postgres_problem() -> str | None:
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


POSTGRES_PROBLEM = _postgres_problem()

if not settings.configured:
    values: dict[str, Any] = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    if POSTGRES_PROBLEM is not None and os.environ.get("CI") != "true":
        values["DATABASES"] = {k: v for k, v in values["DATABASES"].items() if k != "postgres"}
    settings.configure(**values)
    django.setup()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the PostgreSQL cases when the server is unreachable (under CI its test database fails to build)."""
    if POSTGRES_PROBLEM is None or os.environ.get("CI") == "true":
        return
    for item in items:
        if item.get_closest_marker("postgres") is not None and "tests/django" in str(item.path):
            item.add_marker(pytest.mark.skip(reason=POSTGRES_PROBLEM))


@pytest.fixture(scope="session", autouse=True)
def _remove_sqlite_directory() -> Iterator[None]:
    """The SQLite test database lives in a directory of its own; remove it when the session ends."""
    yield
    shutil.rmtree(test_settings.SQLITE_DIRECTORY, ignore_errors=True)
