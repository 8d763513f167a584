"""Side by side, one run: clerk-sync's /me against the two routes a user would otherwise write.

Run: ``.venv/bin/python -m bench.compare [--db sqlite|postgresql|both] [--seconds 8] [--rounds 2]``. Needs
``wrk``. Each app runs as one uvicorn worker (access log off) on the same database kind, with the same token and
the same JWKS (served on 127.0.0.1 by the test kit): (a) ``fastapi-clerk-auth`` verify-only, (b) hand-written
verify + select + insert-on-miss, (c) clerk-sync ``/me`` (verify + full user sync), plus clerk-sync's own
verify-only ``/me/claims``. Rounds alternate between the apps so drift spreads evenly. Steady state only: the
user exists and its claims do not change.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import httpx

from bench.http_rps import bench_database, start_server, wrk
from clerk_sync.db import upgrade
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import JwksServer

CLAIMS = {"email": "bench@example.com", "first_name": "Bench", "last_name": "Mark"}
APPS = {
    "fastapi-clerk-auth (verify only)": ("bench.baselines.verify_only:create_app", "/me"),
    "hand-written verify+select+insert": ("bench.baselines.hand_written:create_app", "/me"),
    "clerk-sync /me/claims (verify only)": ("clerk_sync.service:create_app", "/me/claims"),
    "clerk-sync /me (verify + sync)": ("clerk_sync.service:create_app", "/me"),
}


Results = dict[str, tuple[float, str, str]]


def chart(results: dict[str, Results], path: Path) -> None:
    """A grouped bar chart of requests/s per app and database (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(APPS)
    kinds = list(results)
    figure, axes = plt.subplots(figsize=(9, 4.5), dpi=100)
    width = 0.8 / max(len(kinds), 1)
    for index, kind in enumerate(kinds):
        values = [results[kind][label][0] for label in labels]
        positions = [n + index * width for n in range(len(labels))]
        bars = axes.bar(positions, values, width, label=kind)
        axes.bar_label(bars, fmt="%.0f", fontsize=8)
    axes.set_xticks([n + width * (len(kinds) - 1) / 2 for n in range(len(labels))])
    axes.set_xticklabels([label.replace(" (", "\n(") for label in labels], fontsize=8)
    axes.set_ylabel("requests/s (one uvicorn worker)")
    axes.set_title("Steady-state GET, same token and JWKS (bench/compare.py)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    print(f"chart written to {path}")


def run(kind: str, seconds: int, rounds: int, connections: int) -> Results:
    with bench_database(kind, "compare") as (url, work):
        return measure(kind, url, work, seconds, rounds, connections)


def measure(kind: str, url: str, work: Path, seconds: int, rounds: int, connections: int) -> Results:
    issuer = TokenIssuer()
    token = issuer.mint("user_bench", ttl=3600, claims=CLAIMS)
    asyncio.run(upgrade(url))
    results: dict[str, list[tuple[float, str, str]]] = {label: [] for label in APPS}
    with JwksServer(issuer) as jwks:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "BENCH_JWKS_URL": jwks.url,
            "CLERK_JWKS_URL": jwks.url,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        processes = {}
        try:
            for label, (factory, path) in APPS.items():
                if factory not in processes:
                    processes[factory] = start_server(factory, env, work)
                base = processes[factory][1]
                first = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
                if first.status_code != 200:
                    raise SystemExit(f"{label}: {first.status_code} {first.text}")
                wrk(f"{base}{path}", token, 2, connections)  # warm-up
            for _ in range(rounds):
                for label, (factory, path) in APPS.items():
                    results[label].append(wrk(f"{processes[factory][1]}{path}", token, seconds, connections))
        finally:
            for process, _ in processes.values():
                process.terminate()
                process.wait()
    print(f"\n== {kind}: one uvicorn worker each, wrk -t1 -c{connections} -d{seconds}s, {rounds} alternating rounds")
    best = {label: max(runs) for label, runs in results.items()}
    verify_only = best["fastapi-clerk-auth (verify only)"][0]
    hand = best["hand-written verify+select+insert"][0]
    print(f"{'app':38s} {'req/s':>8s} {'p50':>9s} {'p99':>9s} {'vs (a)':>7s} {'vs (b)':>7s}")
    for label, (rps, p50, p99) in best.items():
        print(f"{label:38s} {rps:8.0f} {p50:>9s} {p99:>9s} {rps / verify_only:6.2f}x {rps / hand:6.2f}x")
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--chart", type=Path, help="write a PNG bar chart here (e.g. docs/performance.png)")
    args = parser.parse_args()
    results = {
        kind: run(kind, args.seconds, args.rounds, args.connections)
        for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db])
    }
    if args.chart is not None:
        chart(results, args.chart)


if __name__ == "__main__":
    main()
