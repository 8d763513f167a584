"""Settings of the notes project: the few a clerk-sync API needs. ``CLERK_*`` come from the environment."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-change-me")
DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = ["django.contrib.contenttypes", "clerk_sync.django", "notes"]
# Header tokens only, so no CSRF middleware: a browser cannot be made to send an Authorization header. An app
# that takes Clerk's __session cookie keeps CsrfViewMiddleware and sets CLERK_AUTHORIZED_PARTIES.
MIDDLEWARE = ["clerk_sync.django.middleware.ClerkSyncMiddleware"]
# Which model holds the synced users: clerk-sync's own (table `users`) is the default, written out here because
# foreign keys name it through this setting, as they name AUTH_USER_MODEL, so a later switch to your own
# AbstractClerkUser model keeps them valid.
CLERK_SYNC_USER_MODEL = "clerk_sync.ClerkUser"
ROOT_URLCONF = "notes_project.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("NOTES_SQLITE_PATH", BASE_DIR / "notes.sqlite3"),
    }
}
