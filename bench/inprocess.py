"""The app's own cost, without the server's: CPU per ``GET /me`` of each WSGI peer, called in-process.

Run: ``.venv/bin/python -m bench.inprocess [--framework django|flask|both] [--db sqlite|postgresql|both]
[--requests 5000] [--rounds 3]``.

``bench.compare`` measures what a user sees: requests per second through gunicorn, where every peer also pays
the same server cost per request (gunicorn's Python HTTP parser and socket writes, GIL hand-offs between its
threads). That shared cost compresses the ratios between peers. This bench calls each peer's WSGI application
directly, ``requests`` times on one thread after a warm-up, and reports the process CPU time per request
(``time.process_time``: the app's Python, the driver's client side and its system calls; not the database
server's work). The peers and their settings are ``bench.compare``'s for that framework: the same database, the
same token, the same key. Each app runs in its own child process (Django's settings are process-wide); rounds
alternate between the apps and each keeps its best. The ratio column is the peer's CPU per request over
clerk-sync's: above 1.00x, clerk-sync's ``/me`` costs less than the peer's route.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from importlib import import_module
from pathlib import Path
from typing import Any

from bench.compare import CLAIMS, FRAMEWORK_APPS, ME, bench_env, migrate
from bench.framework_servers import App
from bench.http_rps import bench_database
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import JwksServer

__all__ = ["main", "measure"]

_WSGI = ("django", "flask")


def _application(target: str) -> Callable[..., Iterable[bytes]]:
    """``module:call()`` as gunicorn reads it (``bench.framework_servers``): the WSGI app the call returns."""
    module, _, call = target.partition(":")
    namespace = vars(import_module(module))
    application: Callable[..., Iterable[bytes]] = eval(call, dict(namespace))  # our own targets only
    return application


def _environ(path: str, token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _child(target: str, path: str, requests: int) -> None:
    """In the child: call the app ``requests`` times and print its CPU and wall time per request as JSON."""
    application = _application(target)
    token = os.environ["BENCH_TOKEN"]
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc: Any = None) -> None:
        statuses.append(status)

    def once() -> None:
        body = application(_environ(path, token), start_response)
        b"".join(body)
        close = getattr(body, "close", None)
        if close is not None:
            close()

    once()
    if not statuses[0].startswith("200"):
        raise SystemExit(f"{target}: {statuses[0]}")
    for _ in range(min(500, requests)):
        once()
    statuses.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(requests):
        once()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if any(not status.startswith("200") for status in statuses):
        raise SystemExit(f"{target}: non-200 answers {set(statuses)}")
    print(json.dumps({"cpu_us": 1e6 * cpu / requests, "wall_us": 1e6 * wall / requests}))


def _run_child(app: App, env: dict[str, str], requests: int, cwd: Path) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.inprocess", "--child", app.target, "--path", app.path]
    command += ["--requests", str(requests)]
    out = subprocess.run(command, env={**env, **app.env}, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{app.target} ({app.env}) failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def measure(framework: str, kind: str, requests: int, rounds: int) -> dict[str, dict[str, float]]:
    """Each peer's best round (lowest CPU per request) on a fresh database of ``kind``."""
    apps = FRAMEWORK_APPS[framework]
    issuer = TokenIssuer()
    token = issuer.mint("user_bench", ttl=3600, claims=CLAIMS)
    best: dict[str, dict[str, float]] = {}
    with bench_database(kind, "inprocess") as (url, work), JwksServer(issuer) as jwks:
        migrate(framework, url, {**os.environ, "CLERK_SYNC_SERVE_DEV": "0"}, work)
        env = {**bench_env(url, issuer, jwks.url), "BENCH_TOKEN": token}
        for _ in range(rounds):
            for label, app in apps.items():
                result = _run_child(app, env, requests, work)
                if label not in best or result["cpu_us"] < best[label]["cpu_us"]:
                    best[label] = result
    mine = best[ME]["cpu_us"]
    print(f"\n== {framework}, {kind}: {requests} GET requests in-process per round, {rounds} alternating rounds")
    print(f"load per core (1 min): {os.getloadavg()[0] / (os.cpu_count() or 1):.2f}")
    print(f"{'app':40s} {'CPU/req':>9s} {'wall/req':>9s} {'peer/ours':>9s}")
    for label, result in best.items():
        print(f"{label:40s} {result['cpu_us']:7.0f}us {result['wall_us']:7.0f}us {result['cpu_us'] / mine:8.2f}x")
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", choices=[*_WSGI, "both"], default="both")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="/me", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.path, args.requests)
        return
    for framework in _WSGI if args.framework == "both" else [args.framework]:
        for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
            measure(framework, kind, args.requests, args.rounds)


if __name__ == "__main__":
    main()
