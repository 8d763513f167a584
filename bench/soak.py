"""Soak: minutes of mixed traffic against ``clerk-sync serve`` on PostgreSQL; do memory, connections and file
descriptors stay flat? (A bench, not a CI test: the documented run is 10 minutes.)

Run: ``.venv/bin/python -m bench.soak [--minutes 10] [--workers 2] [--users 2000] [--concurrency 16]``.
Four in five requests are ``GET /me`` for one of ``--users`` users (first sight, then the steady state), one in
five a signed ``user.updated`` webhook for one of them. Every ``--every`` seconds it samples the server
processes (the ``serve`` process and its workers): summed RSS (/proc/<pid>/status), open file descriptors
(/proc/<pid>/fd), and the test database's connections in ``pg_stat_activity``. It prints each series' first,
last and max sample and calls a series flat when the second half's max exceeds the first half's by less than
10 % (connections and descriptors: by nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from bench.http_rps import ADMIN, bench_database, free_port
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event

CLI = str(Path(sys.executable).parent / "clerk-sync")


def server_pids(parent: int) -> list[int]:
    """``parent`` and its children (uvicorn's workers, multiprocessing's tracker), from /proc."""
    pids = [parent]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def sample(parent: int, database: str) -> tuple[float, int, int]:
    rss = fds = 0.0
    for pid in server_pids(parent):
        try:
            rss += rss_mb(pid)
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    connection = await asyncpg.connect(ADMIN)
    try:
        pg = await connection.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await connection.close()
    return rss, int(fds), int(pg)


async def traffic(
    base: str, secret: str, tokens: list[tuple[str, str]], deadline: float, counts: dict[str, int]
) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < deadline:
            sub, token = rng.choice(tokens)
            if rng.random() < 0.2:
                user = make_user_json(sub, email=f"{sub}.{rng.randrange(10**6)}@example.com", updated_at=None)
                body, headers = sign_event({"type": "user.updated", "object": "event", "data": user}, secret)
                response = await client.post(f"{base}/webhooks/clerk", content=body, headers=headers)
            else:
                response = await client.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
            key = str(response.status_code)
            counts[key] = counts.get(key, 0) + 1


def flat(series: list[float], tolerance: float) -> bool:
    half = len(series) // 2
    return max(series[half:]) <= max(series[:half]) * (1 + tolerance)


def start(
    args: argparse.Namespace, url: str, work: Path, issuer: TokenIssuer, secret: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Migrate, then start ``clerk-sync serve`` (output discarded: the access log is off, warnings are few)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CLERK_")},
        "DATABASE_URL": url,
        "CLERK_JWT_KEY": issuer.public_pem(armor=False),
        "CLERK_WEBHOOK_SIGNING_SECRET": secret,
    }
    subprocess.run([CLI, "db", "upgrade"], env=env, cwd=work, check=True, capture_output=True)
    port = free_port()
    command = [CLI, "serve", "--port", str(port), "--workers", str(args.workers), "--no-access-log"]
    server = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


async def soak(
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    base: str,
    database: str,
    issuer: TokenIssuer,
    secret: str,
) -> None:
    async with httpx.AsyncClient() as probe:
        for _ in range(600):
            try:
                if (await probe.get(f"{base}/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    ttl = int(args.minutes * 60) + 600
    subs = [f"user_soak_{n}" for n in range(args.users)]
    tokens = [(sub, issuer.mint(sub, ttl=ttl, claims={"email": f"{sub}@example.com"})) for sub in subs]
    counts: dict[str, int] = {}
    start = time.monotonic()
    deadline = start + args.minutes * 60
    clients = [asyncio.create_task(traffic(base, secret, tokens, deadline, counts)) for _ in range(args.concurrency)]
    samples: list[tuple[float, float, int, int]] = []
    for tick in itertools.count():
        now = time.monotonic()
        if now >= deadline:
            break
        rss, fds, pg = await sample(server.pid, database)
        samples.append((now - start, rss, fds, pg))
        print(f"{now - start:6.0f}s rss {rss:7.1f} MB  fds {fds:4d}  pg conns {pg:3d}  requests {counts}", flush=True)
        await asyncio.sleep(max(0.0, start + (tick + 1) * args.every - time.monotonic()))
    await asyncio.gather(*clients)
    total = sum(counts.values())
    print(f"\n{total} requests in {args.minutes} min ({total / (args.minutes * 60):.0f}/s): {counts}")
    for name, index, tolerance in (("RSS MB", 1, 0.10), ("open fds", 2, 0.0), ("pg connections", 3, 0.0)):
        series = [float(s[index]) for s in samples]
        print(
            f"{name:15s} first {series[0]:8.1f}  last {series[-1]:8.1f}  max {max(series):8.1f}  "
            f"flat: {'yes' if flat(series, tolerance) else 'NO'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    args = parser.parse_args()
    issuer = TokenIssuer()
    secret = make_webhook_secret()
    with bench_database("postgresql", "soak") as (url, work):
        server, base = start(args, url, work, issuer, secret)
        try:
            asyncio.run(soak(args, server, base, url.rsplit("/", 1)[1], issuer, secret))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
