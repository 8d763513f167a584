"""Django peer (a): Clerk's official Python SDK (``clerk-backend-api``) guarding a view; verification only.

This module is the whole project: its settings (``DJANGO_SETTINGS_MODULE=bench.baselines.django_sdk``, no
database, no apps, no middleware) and its URLconf. The view calls ``Clerk().authenticate_request`` with a
networkless key (``BENCH_JWT_KEY``) and ``authorized_parties`` (``BENCH_AUTHORIZED_PARTIES``); the SDK reads
only ``request.headers``, so Django's request is passed as is. Served with Django's WSGI application on the
Django reference app's server (gunicorn gthread) by ``bench.compare --framework django``.
"""

import os
from typing import Any

from clerk_backend_api import Clerk
from clerk_backend_api.security.types import AuthenticateRequestOptions
from django.http import HttpRequest, JsonResponse
from django.urls import path

__all__ = ["ALLOWED_HOSTS", "DATABASES", "DEBUG", "INSTALLED_APPS", "ROOT_URLCONF", "SECRET_KEY", "urlpatterns"]

DEBUG = False
SECRET_KEY = "bench-only-nothing-is-signed"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, Any] = {}
ROOT_URLCONF = __name__

_sdk = Clerk()
_JWT_KEY = os.environ["BENCH_JWT_KEY"]
_PARTIES = [party for party in os.environ["BENCH_AUTHORIZED_PARTIES"].split(",") if party]


def me(request: HttpRequest) -> JsonResponse:
    # Fresh options per request: the SDK method writes secret_key into the options it is given.
    options = AuthenticateRequestOptions(jwt_key=_JWT_KEY, authorized_parties=_PARTIES)
    state = _sdk.authenticate_request(request, options)
    if not state.is_signed_in or state.payload is None:
        return JsonResponse({"detail": "signed out"}, status=401)
    return JsonResponse({"clerk_id": state.payload.get("sub")})


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [path("me", me), path("healthz", healthz)]
