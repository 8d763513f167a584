"""Django for tests/django: ``settings.configure`` from ``tests.django.settings`` when this directory is
collected, with no settings module in the environment, so one ``python -m pytest`` runs the whole suite and no
other test's behaviour depends on Django (only Django's own connections are affected by its test setup).

pytest-django then creates the test databases the collected tests ask for (``django_db(databases=...)``),
running the migrations, and drops them at the end. PostgreSQL is the server at ``CLERK_SYNC_TEST_POSTGRES``;
when it is unreachable the PostgreSQL cases are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.django import settings as test_settings
from tests.django.setup import configure

POSTGRES_PROBLEM = configure()

from clerk_sync.django.testing import clerk_django  # noqa: E402, F401  (the kit's fixture, as an app imports it)


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
