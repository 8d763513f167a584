"""First sight, measured: how many Clerk Backend API calls ``django-clerk-users`` and clerk-sync make per new user.

Run: ``.venv/bin/python -m bench.django_clerk_users [--users 20]``. Needs ``django-clerk-users`` (the ``bench``
extra on Python 3.12+; on 3.11: ``pip install --no-deps --ignore-requires-python django-clerk-users==0.4.1``,
whose code runs on 3.11).

A fake Backend API and JWKS on 127.0.0.1 counts every request (``GET /v1/users/{id}``, ``GET /v1/jwks``). Each
side runs in a child process of its own (Django is configured once per process) on a fresh SQLite file, through
Django's test client and the whole middleware stack: ``django-clerk-users`` as its README sets it up (sessions,
auth, ``ClerkAuthMiddleware``, its ``ClerkUser`` as ``AUTH_USER_MODEL``), clerk-sync as its reference project
(``clerk_sync.service.django_project``). Both verify networkless (``CLERK_JWT_KEY``) and hold a secret key whose
Backend API is the fake; the child refuses any HTTP request to another address (``_loopback_only``), so nothing
reaches Clerk. Per side and token kind (profile claims in the token, or Clerk's default token: ``sub`` only), each
of ``--users`` new users sends two requests without cookies (first sight, then again), and one more user a first
request that keeps the session cookie and then a request with that cookie and a token signed by another key.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path

from clerk_sync.issuer import TokenIssuer

__all__ = ["FakeBackendAPI", "main", "urlpatterns"]

PROFILE = {"email": "{sub}@example.com", "first_name": "First", "last_name": "Sight"}
SECRET = "sk_test_bench_fake_backend_api_only"


class FakeBackendAPI:
    """``GET /v1/users/{id}`` (a Clerk user object) and ``GET /v1/jwks`` on 127.0.0.1, counting requests by route."""

    def __init__(self, issuer: TokenIssuer) -> None:
        self.counts: Counter[str] = Counter()
        lock = threading.Lock()
        jwks = json.dumps(issuer.jwks()).encode()
        counts = self.counts

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = "users" if self.path.startswith("/v1/users/") else self.path
                with lock:
                    counts[route] += 1
                if route == "users":
                    body = json.dumps(_clerk_user(self.path.rsplit("/", 1)[-1].partition("?")[0])).encode()
                elif route == "/v1/jwks":
                    body = jwks
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[FakeBackendAPI]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def _clerk_user(user_id: str) -> dict[str, Any]:
    """A Backend API user object: the fields both packages read."""
    email_id = f"idn_{user_id}"
    return {
        "object": "user",
        "id": user_id,
        "username": None,
        "first_name": "First",
        "last_name": "Sight",
        "image_url": "https://img.example.com/a.png",
        "primary_email_address_id": email_id,
        "email_addresses": [
            {"id": email_id, "email_address": f"{user_id}@example.com", "verification": {"status": "verified"}}
        ],
        "public_metadata": {},
        "private_metadata": {},
        "unsafe_metadata": {},
        "created_at": 1700000000000,
        "updated_at": 1700000000000,
        "last_sign_in_at": None,
        "banned": False,
        "locked": False,
    }


def _dcu_me(request: HttpRequest) -> JsonResponse:
    """The view a django-clerk-users app writes: ``request.user`` set by ``ClerkAuthMiddleware``."""
    if not request.user.is_authenticated:
        return JsonResponse({"detail": "signed out"}, status=401)
    return JsonResponse({"clerk_id": request.user.clerk_id})  # type: ignore[union-attr,attr-defined,unused-ignore]


#: The django-clerk-users child's URLconf (``ROOT_URLCONF = "bench.django_clerk_users"``).
urlpatterns = [path("me", _dcu_me)]


def _loopback_only() -> None:
    """Fail closed: any httpx request to an address other than 127.0.0.1 raises before it is sent."""
    import httpx

    original = httpx.Client.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if request.url.host != "127.0.0.1":
            raise RuntimeError(f"bench refused a request to {request.url.host}: only 127.0.0.1 is allowed")
        return original(self, request, **kwargs)

    httpx.Client.send = send  # type: ignore[method-assign]


def _configure_dcu(database: Path, pem: str, api_url: str) -> None:
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS=["testserver"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django_clerk_users",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django_clerk_users.middleware.ClerkAuthMiddleware",
        ],
        AUTH_USER_MODEL="django_clerk_users.ClerkUser",
        AUTHENTICATION_BACKENDS=["django_clerk_users.authentication.ClerkBackend"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}},
        CLERK_SECRET_KEY=SECRET,
        CLERK_JWT_KEY=pem,
        CLERK_FRONTEND_HOSTS=["http://localhost:3000"],
    )
    import django

    django.setup()
    # The package has no setting for the Backend API's address: its client is built here, on the fake.
    import django_clerk_users.utils
    from django_clerk_users.clerk_api import ClerkClient

    client = ClerkClient(SECRET, base_url=f"{api_url}/v1")
    django_clerk_users.utils.get_clerk_client = lambda: client  # type: ignore[assignment,attr-defined,unused-ignore]


def _configure_clerk_sync(database: Path, pem: str, api_url: str) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "CLERK_JWT_KEY": pem,
            "CLERK_SECRET_KEY": SECRET,
            "CLERK_API_URL": api_url,
            "CLERK_AUTHORIZED_PARTIES": "http://localhost:3000",
            "CLERK_SYNC_SERVE_DEV": "0",
            "DJANGO_SETTINGS_MODULE": "clerk_sync.service.django_project.settings",
            "DJANGO_ALLOWED_HOSTS": "testserver",
        }
    )
    import django

    django.setup()


def child(side: str, tokens_file: Path, api_url: str) -> None:
    """One side's requests; prints what it saw as one JSON line (the parent reads the fake's counts)."""
    _loopback_only()
    work = Path(tempfile.mkdtemp(prefix=f"clerk-sync-dcu-{side}-"))
    plan = json.loads(tokens_file.read_text())
    (_configure_dcu if side == "django-clerk-users" else _configure_clerk_sync)(
        work / "db.sqlite3", plan["pem"], api_url
    )
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", interactive=False, verbosity=0)
    statuses: Counter[str] = Counter()
    for token in plan["tokens"]:
        for attempt in ("first", "again"):
            answer = Client().get("/me", headers={"Authorization": f"Bearer {token}"})  # no cookies kept
            statuses[f"{attempt} {answer.status_code}"] += 1
    browser = Client()  # keeps the session cookie, as a browser does
    first = browser.get("/me", headers={"Authorization": f"Bearer {plan['cookie_token']}"})
    later = browser.get("/me", headers={"Authorization": f"Bearer {plan['foreign_token']}"})
    sessions = None
    if "django_session" in connection.introspection.table_names():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM django_session")
            sessions = cursor.fetchone()[0]
    print(
        json.dumps(
            {
                "statuses": dict(statuses),
                "cookie_first": first.status_code,
                "cookie_then_foreign_token": later.status_code,
                "session_rows": sessions,
            }
        )
    )


def measure(side: str, kind: str, users: int) -> dict[str, Any]:
    issuer = TokenIssuer()
    prefix = f"user_{kind}_"

    def claims(sub: str) -> dict[str, Any]:
        return {k: v.format(sub=sub) for k, v in PROFILE.items()} if kind == "profile" else {}

    plan = {
        "pem": issuer.public_pem(),
        "tokens": [issuer.mint(f"{prefix}{n}", ttl=3600, claims=claims(f"{prefix}{n}")) for n in range(users)],
        "cookie_token": issuer.mint(f"{prefix}cookie", ttl=3600, claims=claims(f"{prefix}cookie")),
        "foreign_token": TokenIssuer().mint(f"{prefix}cookie", ttl=3600, claims=claims(f"{prefix}cookie")),
    }
    with tempfile.TemporaryDirectory() as work, FakeBackendAPI(issuer).running() as fake:
        tokens_file = Path(work) / "plan.json"
        tokens_file.write_text(json.dumps(plan))
        command = [sys.executable, "-m", "bench.django_clerk_users", "--child", side, str(tokens_file), fake.url]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        out = subprocess.run(command, capture_output=True, text=True, check=False, cwd=work, env=env)
        if out.returncode != 0:
            raise SystemExit(f"{side} child failed:\n{out.stderr[-3000:]}")
        seen: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        seen["backend_api"] = dict(fake.counts)
    return seen


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "PLAN", "API_URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, plan, api_url = args.child
        child(side, Path(plan), api_url)
        return
    new_users = args.users + 1  # the cookie user is new too
    print(f"{'side':20s} {'token':8s} {'users/get calls':>16s} {'per new user':>13s} {'jwks':>5s} statuses")
    for side in ("django-clerk-users", "clerk-sync"):
        for kind in ("profile", "bare"):
            seen = measure(side, kind, args.users)
            calls = seen["backend_api"].get("users", 0)
            jwks = seen["backend_api"].get("/v1/jwks", 0)
            print(
                f"{side:20s} {kind:8s} {calls:16d} {calls / new_users:13.2f} {jwks:5d}"
                f" {seen['statuses']} cookie: first {seen['cookie_first']}, then foreign token"
                f" {seen['cookie_then_foreign_token']}; django_session rows {seen['session_rows']}"
            )


if __name__ == "__main__":
    main()
