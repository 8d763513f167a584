"""Django settings for tests/django only (``conftest.py`` applies them with ``settings.configure``).

Three databases: ``default`` is an SQLite file, ``postgres`` a uniquely named PostgreSQL database (created by
Django's test runner and dropped after it), and ``offline`` a PostgreSQL address where nothing listens, for the
"database unavailable" answers. The app's own models (``tests.django.testapp``) extend ``AbstractClerkUser``;
``Account`` is the ``AUTH_USER_MODEL``.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "AUTH_USER_MODEL",
    "DATABASES",
    "DEFAULT_AUTO_FIELD",
    "INSTALLED_APPS",
    "MIDDLEWARE",
    "PASSWORD_HASHERS",
    "REST_FRAMEWORK",
    "ROOT_URLCONF",
    "SECRET_KEY",
    "SQLITE_DIRECTORY",
    "TEMPLATES",
    "USE_TZ",
]


def _closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


_postgres = urlsplit(os.environ.get("CLERK_SYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"))
_postgres_name = f"clerk_sync_django_{uuid.uuid4().hex[:12]}"

#: Holds the SQLite test database file; removed when the test session ends.
SQLITE_DIRECTORY = Path(os.environ.get("CLERK_SYNC_DJANGO_SQLITE_DIR") or tempfile.mkdtemp(prefix="clerk_sync_dj_"))

SECRET_KEY = "tests-only-not-a-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "testapp.Account"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "clerk_sync.django",
    "tests.django.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "clerk_sync.django.middleware.ClerkSyncMiddleware",
]

ROOT_URLCONF = "tests.django.urls"
REST_FRAMEWORK = {"EXCEPTION_HANDLER": "clerk_sync.django.drf.exception_handler"}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(SQLITE_DIRECTORY / "app.sqlite3"),
        # Many threads write at once in the race tests: wait for SQLite's lock instead of failing at once.
        "OPTIONS": {"timeout": 60},
        "TEST": {"NAME": str(SQLITE_DIRECTORY / "test.sqlite3")},
    },
    "postgres": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": _postgres.hostname or "127.0.0.1",
        "PORT": str(_postgres.port or 5432),
        "USER": _postgres.username or "postgres",
        "PASSWORD": _postgres.password or "",
        "NAME": _postgres_name,
        "OPTIONS": {"connect_timeout": 5},
        "TEST": {"NAME": _postgres_name},
    },
    "offline": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": str(_closed_port()),
        "USER": "postgres",
        "NAME": "nothing_listens_here",
        "OPTIONS": {"connect_timeout": 2},
    },
}
