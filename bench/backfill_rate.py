"""Users imported per second by ``backfill`` from a fake Backend API with 100,000 users and 50 ms per page.

Run: ``.venv/bin/python -m bench.backfill_rate [--db sqlite|postgresql|both] [--users 100000] [--latency 0.05]``.
The fake Backend API serves in this process; each backfill runs in a child process, so its peak RSS is the
backfill's alone, not the fake's copy of the users. Peak RSS is the child's ``VmHWM`` (``/proc/self/status``),
not ``getrusage``'s ``ru_maxrss``: Linux carries ``ru_maxrss`` across ``fork`` and ``exec``, so a child would
report the parent's RSS at the fork (here the fake's ~340 MiB of user objects) whatever it did itself. Each
database gets a first run (every user created) and a second run (every user unchanged). No pacing: this
measures clerk-sync; a real run is capped by its share of Clerk's rate limit (20% of 1000 per 10 s = 20 pages/s
in production).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time

import httpx

from bench.http_rps import bench_database
from clerk_sync.backend_api import BackendAPI
from clerk_sync.backfill import backfill
from clerk_sync.db import AsyncSQLAlchemyStore, upgrade
from clerk_sync.testing import FakeClerkBackend, make_user_json

BASE_MS = 1_700_000_000_000


async def _child(api_url: str, secret: str, db_url: str) -> None:
    store = AsyncSQLAlchemyStore.from_url(db_url, direct_reads=False)
    await upgrade(store.engine)
    try:
        async with httpx.AsyncClient() as http:
            api = BackendAPI(http, secret, api_url=api_url, timeout=60)
            started = time.perf_counter()
            report = await backfill(api, store)
            seconds = time.perf_counter() - started
    finally:
        await store.close()
    rss_mib = _peak_rss_mib()
    print(
        json.dumps(
            {
                "seen": report.seen,
                "created": report.created,
                "unchanged": report.unchanged,
                "pages": report.pages,
                "seconds": seconds,
                "rss_mib": rss_mib,
            }
        )
    )


def _peak_rss_mib() -> float:
    """This process's own peak RSS (the high-water mark of its address space, reset by ``exec``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: the inherited figure


def _run(api_url: str, secret: str, db_url: str) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.backfill_rate", "--child", api_url, secret, db_url]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(kinds: list[str], users: int, latency: float) -> None:
    population = [
        make_user_json(f"user_{i:06d}", email=f"u{i}@example.com", created_at=BASE_MS + i * 7) for i in range(users)
    ]
    with FakeClerkBackend(users=population, latency=latency) as fake:
        for kind in kinds:
            with bench_database(kind, "backfill") as (db_url, _work):
                first = _run(fake.url, fake.secret_key, db_url)
                second = _run(fake.url, fake.secret_key, db_url)
            assert first["created"] == users, first
            assert second["unchanged"] == users, second
            print(
                f"{kind:10} first run: {first['seconds']:6.1f} s, {users / first['seconds']:7.0f} users/s, "
                f"{first['pages']:.0f} pages, peak RSS {first['rss_mib']:.0f} MiB | "
                f"second (no change): {second['seconds']:6.1f} s, {users / second['seconds']:7.0f} users/s, "
                f"peak RSS {second['rss_mib']:.0f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        asyncio.run(_child(*sys.argv[2:]))
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Backend API answer")
    args = parser.parse_args()
    main(["sqlite", "postgresql"] if args.db == "both" else [args.db], args.users, args.latency)
