"""Side by side, one run: clerk-sync's /me against the routes a user would otherwise write, and a no-auth ceiling.

Run: ``.venv/bin/python -m bench.compare [--framework fastapi] [--db sqlite|postgresql|both] [--seconds 8]
[--rounds 2]``. Needs ``wrk`` and the ``bench`` extra (``pip install -e '.[bench]'``, for Clerk's SDK). Each app
runs as one uvicorn worker (``start_server``: access log off, the clerk-sync service included) on the same database
kind, with the same token and the same signing key (a JWKS served on 127.0.0.1 by the test kit, or its PEM for the
SDK's networkless mode): (a) ``fastapi-clerk-auth`` verify-only, (b) hand-written verify + select + insert-on-miss,
(c) Clerk's official SDK (``clerk-backend-api`` ``authenticate_request``) verify-only, (d) a FastAPI route with no
authentication, then clerk-sync's verify-only ``/me/claims`` and its ``/me`` (verify + full user sync). Rounds
alternate between the apps so drift spreads evenly; each app keeps its best round. Steady state only: the user
exists and its claims do not change. The last column is clerk-sync ``/me``'s rate over each app's.

``--framework django|flask|litestar`` (issues 12 and 13) compares clerk-sync's reference app of that framework
with two peers written in the same framework, each served as that reference app is (``bench.framework_servers``:
Django and Flask on one gunicorn gthread worker with the reference app's thread count, Litestar on one uvicorn
worker): (a) Clerk's SDK ``authenticate_request`` with a networkless key and no database, (b) a hand-written
view verifying with PyJWT and doing get-or-create by ``clerk_id`` (Django: the ORM's ``get_or_create``; Flask:
sync SQLAlchemy; Litestar: async SQLAlchemy) on the same database. Targets: ``/me`` >= 1.0x (a), >= 3x (b).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from bench.framework_servers import DJANGO_WSGI, App, describe, serve
from bench.http_rps import bench_database, wrk
from clerk_sync.db import upgrade
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import JwksServer

CLAIMS = {"email": "bench@example.com", "first_name": "Bench", "last_name": "Mark"}
AUTHORIZED_PARTY = "http://localhost:3000"  # the azp TokenIssuer puts in its tokens; checked by (c) and clerk-sync
ME = "clerk-sync /me (verify + sync)"
APPS = {
    "(a) fastapi-clerk-auth (verify only)": App("bench.baselines.verify_only:create_app"),
    "(b) hand-written verify+select+insert": App("bench.baselines.hand_written:create_app"),
    "(c) clerk-backend-api (verify only)": App("bench.baselines.clerk_sdk:create_app"),
    "(d) FastAPI, no auth": App("bench.baselines.no_auth:create_app"),
    "clerk-sync /me/claims (verify only)": App("clerk_sync.service:create_app", "/me/claims"),
    ME: App("clerk_sync.service:create_app"),
}

SDK = "(a) clerk-backend-api (verify only)"
HAND = "(b) hand-written PyJWT + get-or-create"

#: framework -> the apps compared (``bench.framework_servers`` serves each as that framework's reference app).
FRAMEWORK_APPS: dict[str, dict[str, App]] = {
    "fastapi": APPS,
    "django": {
        SDK: App(DJANGO_WSGI, env={"DJANGO_SETTINGS_MODULE": "bench.baselines.django_sdk"}),
        HAND: App(DJANGO_WSGI, env={"DJANGO_SETTINGS_MODULE": "bench.baselines.django_hand_written.settings"}),
        ME: App(DJANGO_WSGI, env={"DJANGO_SETTINGS_MODULE": "clerk_sync.service.django_project.settings"}),
    },
    "flask": {
        SDK: App("bench.baselines.flask_sdk:create_app()"),
        HAND: App("bench.baselines.flask_hand_written:create_app()"),
        ME: App("clerk_sync.service.flask_server:service_app()"),
    },
    "litestar": {
        SDK: App("bench.baselines.litestar_sdk:create_app"),
        HAND: App("bench.baselines.litestar_hand_written:create_app"),
        ME: App("clerk_sync.service.litestar_server:service_app"),
    },
}


Results = dict[str, tuple[float, str, str]]


def chart(results: dict[str, Results], path: Path, framework: str = "fastapi") -> None:
    """A grouped bar chart of requests/s per app and database (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(FRAMEWORK_APPS[framework])
    kinds = list(results)
    figure, axes = plt.subplots(figsize=(12, 4.5), dpi=100)
    width = 0.8 / max(len(kinds), 1)
    for index, kind in enumerate(kinds):
        values = [results[kind][label][0] for label in labels]
        positions = [n + index * width for n in range(len(labels))]
        bars = axes.bar(positions, values, width, label=kind)
        axes.bar_label(bars, fmt="%.0f", fontsize=8)
    axes.set_xticks([n + width * (len(kinds) - 1) / 2 for n in range(len(labels))])
    axes.set_xticklabels([label.replace(" (", "\n(") for label in labels], fontsize=8)
    axes.set_ylabel(f"requests/s ({describe(framework).partition(',')[0]})")
    axes.set_title(f"{framework}: steady-state GET, same token and signing key (bench/compare.py)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    print(f"chart written to {path}")


def run(kind: str, seconds: int, rounds: int, connections: int, framework: str = "fastapi") -> Results:
    with bench_database(kind, "compare") as (url, work):
        return measure(kind, url, work, seconds, rounds, connections, framework)


def load() -> str:
    """The 1-minute load average over the cores: above 1.00 other work shared the CPUs with the run."""
    return f"{os.getloadavg()[0] / (os.cpu_count() or 1):.2f}"


def bench_env(url: str, issuer: TokenIssuer, jwks_url: str) -> dict[str, str]:
    """What every app reads: the database, the JWKS (clerk-sync, fastapi-clerk-auth) or its PEM (the SDK, PyJWT)."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "BENCH_JWKS_URL": jwks_url,
        "CLERK_JWKS_URL": jwks_url,
        "BENCH_JWT_KEY": issuer.public_pem(),
        "BENCH_AUTHORIZED_PARTIES": AUTHORIZED_PARTY,
        "CLERK_AUTHORIZED_PARTIES": AUTHORIZED_PARTY,
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "CLERK_SYNC_SERVE_DEV": "0",  # the reference apps' production mode: Clerk's key set, not the dev key
    }


def migrate(framework: str, url: str, env: dict[str, str], work: Path) -> None:
    """The schema the framework's reference app runs on: Django's migrations, or the packaged Alembic ones."""
    if framework == "django":
        command = [str(Path(sys.executable).parent / "clerk-sync"), "db", "upgrade", "--framework", "django"]
        subprocess.run(command, env={**env, "DATABASE_URL": url}, cwd=work, check=True)
    else:
        asyncio.run(upgrade(url))


def measure(
    kind: str, url: str, work: Path, seconds: int, rounds: int, connections: int, framework: str = "fastapi"
) -> Results:
    apps = FRAMEWORK_APPS[framework]
    start_load = load()
    issuer = TokenIssuer()
    token = issuer.mint("user_bench", ttl=3600, claims=CLAIMS)
    migrate(framework, url, {**os.environ, "CLERK_SYNC_SERVE_DEV": "0"}, work)
    results: dict[str, list[tuple[float, str, str]]] = {label: [] for label in apps}
    with JwksServer(issuer) as jwks:
        env = bench_env(url, issuer, jwks.url)
        processes: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[subprocess.Popen[bytes], str]] = {}
        try:
            for label, app in apps.items():
                key = (app.target, tuple(sorted(app.env.items())))
                if key not in processes:
                    processes[key] = serve(framework, app, env, work)
                base = processes[key][1]
                first = httpx.get(f"{base}{app.path}", headers={"Authorization": f"Bearer {token}"})
                if first.status_code != 200:
                    raise SystemExit(f"{label}: {first.status_code} {first.text}")
                wrk(f"{base}{app.path}", token, 2, connections)  # warm-up
            for _ in range(rounds):
                for label, app in apps.items():
                    base = processes[(app.target, tuple(sorted(app.env.items())))][1]
                    results[label].append(wrk(f"{base}{app.path}", token, seconds, connections))
        finally:
            for process, _ in processes.values():
                process.terminate()
                process.wait()
    server = "one uvicorn worker each" if framework == "fastapi" else f"{framework}, {describe(framework)}, each"
    print(f"\n== {kind}: {server}, wrk -t1 -c{connections} -d{seconds}s, {rounds} alternating rounds")
    print(f"load per core (1 min): {start_load} at start, {load()} at end, on {os.cpu_count()} cores")
    best = {label: max(runs) for label, runs in results.items()}
    me = best[ME][0]
    print(f"{'app':40s} {'req/s':>8s} {'p50':>9s} {'p99':>9s} {'/me vs':>7s}")
    for label, (rps, p50, p99) in best.items():
        print(f"{label:40s} {rps:8.0f} {p50:>9s} {p99:>9s} {me / rps:6.2f}x")
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--framework", choices=list(FRAMEWORK_APPS), default="fastapi")
    parser.add_argument("--chart", type=Path, help="write a PNG bar chart here (e.g. docs/performance.png)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    if importlib.util.find_spec("clerk_backend_api") is None:
        raise SystemExit("Clerk's SDK (peer (c)) is needed: .venv/bin/python -m pip install -e '.[bench]'")
    results = {
        kind: run(kind, args.seconds, args.rounds, args.connections, args.framework)
        for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db])
    }
    if args.chart is not None:
        chart(results, args.chart, args.framework)


if __name__ == "__main__":
    main()
