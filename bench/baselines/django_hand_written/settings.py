"""Settings of the hand-written peer: one app (its model), no middleware, and the database entry clerk-sync's
Django reference project builds from ``DATABASE_URL`` (persistent connections and health checks on PostgreSQL,
WAL and a busy timeout on SQLite), so both sides talk to the database the same way."""

import os
from typing import Any

from clerk_sync.service.django_project.database import database_from_url

__all__ = [
    "ALLOWED_HOSTS",
    "DATABASES",
    "DEBUG",
    "DEFAULT_AUTO_FIELD",
    "INSTALLED_APPS",
    "ROOT_URLCONF",
    "SECRET_KEY",
    "USE_TZ",
]

DEBUG = False
SECRET_KEY = "bench-only-nothing-is-signed"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["bench.baselines.django_hand_written"]
ROOT_URLCONF = "bench.baselines.django_hand_written.urls"
DATABASES: dict[str, Any] = {"default": database_from_url(os.environ["DATABASE_URL"])}
