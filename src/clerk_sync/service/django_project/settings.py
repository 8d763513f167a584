"""Settings of the Django reference project: stateless (no sessions, no auth app), every error problem+json.

``DATABASE_URL`` as the other reference apps read it (``database.py``); Clerk's ``CLERK_*`` variables as
``clerk_sync.django`` reads them; ``--dev`` (``CLERK_SYNC_SERVE_DEV=1``) trusts the local development key.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from clerk_sync.devkeys import DEV_ISSUER, load_dev_issuer
from clerk_sync.service.django_project.database import database_from_url
from clerk_sync.service.serving import DEV_ENV
from clerk_sync.settings import DEFAULT_DATABASE_URL

__all__ = [
    "ALLOWED_HOSTS",
    "CLERK_SYNC",
    "DATABASES",
    "DEBUG",
    "DEFAULT_AUTO_FIELD",
    "INSTALLED_APPS",
    "LOGGING",
    "MIDDLEWARE",
    "ROOT_URLCONF",
    "SECRET_KEY",
    "USE_TZ",
]

DEBUG = False
# Nothing is signed (no sessions, no CSRF cookies for the API); a per-process value is enough for Django.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "clerk_sync.service.django_project.urls"

INSTALLED_APPS = ["clerk_sync.django"]

MIDDLEWARE = [
    "clerk_sync.django.middleware.ProblemDetailsMiddleware",
    "clerk_sync.django.middleware.ClerkSyncMiddleware",
]

DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)}

CLERK_SYNC: dict[str, Any] = {}
if os.environ.get(DEV_ENV) == "1":
    CLERK_SYNC = {
        "jwt_key": load_dev_issuer().public_pem(),
        "issuer": DEV_ISSUER,
        "authorized_parties": (),
        "jwks_url": None,
    }

# Django's request logger would log every 4xx; clerk-sync logs its refusals and a crash (redacted) itself.
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        "clerk_sync": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
