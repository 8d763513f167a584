"""Scenarios beyond the steady state: a first-sight burst, many rotating users, and memory after many tokens.

Run: ``.venv/bin/python -m bench.scenarios [--db sqlite|postgresql] [--burst-users 1000] [--users 10000]
[--tokens 100000] [--seconds 20]``. Needs ``wrk``. One uvicorn worker.

- burst: ``--burst-users`` new users, 4 concurrent first requests each: reports errors (must be 0) and rows
  (must equal the user count);
- rotating: ``--tokens`` distinct tokens over ``--users`` users, sent round-robin by wrk (a Lua script):
  requests/s while rows are created and then while they are only read;
- memory: the worker's resident set size (VmRSS) after all those tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bench.http_rps import bench_database, start_server
from clerk_sync.db import upgrade
from clerk_sync.issuer import TokenIssuer

LUA = """
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local i = tonumber(os.getenv("TOKENS_OFFSET") or "0")
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/me", {["Authorization"] = "Bearer " .. tokens[i]})
end
"""


def mint_chunk(args: tuple[bytes, str, int, int, int]) -> list[str]:
    pem, kid, start, stop, users = args
    key = load_pem_private_key(pem, password=None)
    issuer = TokenIssuer(private_key=key, kid=kid)  # type: ignore[arg-type]
    return [
        issuer.mint(f"user_rot_{n % users}", ttl=3600, claims={"email": f"r{n % users}@example.com"})
        for n in range(start, stop)
    ]


def mint(issuer: TokenIssuer, count: int, users: int) -> list[str]:
    step = 5000
    chunks = [(issuer.private_pem(), issuer.kid, i, min(i + step, count), users) for i in range(0, count, step)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return [token for chunk in pool.map(mint_chunk, chunks) for token in chunk]


async def burst(base: str, issuer: TokenIssuer, users: int) -> tuple[int, int]:
    tokens = [issuer.mint(f"user_burst_{n}", ttl=3600, claims={"email": f"b{n}@example.com"}) for n in range(users)]
    semaphore = asyncio.Semaphore(64)
    errors = 0
    ids: dict[str, set[int]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=64)) as client:

        async def one(token: str, sub: str) -> None:
            nonlocal errors
            async with semaphore:
                response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 200:
                errors += 1
            else:
                ids.setdefault(sub, set()).add(response.json()["id"])

        await asyncio.gather(*(one(t, f"user_burst_{n}") for n, t in enumerate(tokens) for _ in range(4)))
    assert all(len(found) == 1 for found in ids.values()), "a user got two ids"
    return errors, len(ids)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk_rotating(base: str, tokens_file: Path, seconds: int, offset: int) -> tuple[float, int]:
    """One wrk run continuing the round-robin at ``offset``; returns (requests/s, requests sent)."""
    script = tokens_file.with_suffix(".lua")
    script.write_text(LUA)
    env = {**os.environ, "TOKENS_FILE": str(tokens_file), "TOKENS_OFFSET": str(offset)}
    out = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script), f"{base}/me"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx responses:\n{out}")
    rps = float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[1])
    sent = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
    return rps, sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--burst-users", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    with bench_database(args.db, "scenarios") as (url, work):
        run(args, url, work)


def run(args: argparse.Namespace, url: str, work: Path) -> None:
    issuer = TokenIssuer()
    asyncio.run(upgrade(url))
    tokens_file = work / "tokens.txt"
    tokens_file.write_text("\n".join(mint(issuer, args.tokens, args.users)) + "\n")
    env = {**os.environ, "DATABASE_URL": url, "CLERK_JWT_KEY": issuer.public_pem(armor=False)}
    server, base = start_server("clerk_sync.service:create_app", env, work)
    try:
        print(f"== {args.db}, one uvicorn worker; start RSS {rss_mb(server.pid):.0f} MB")
        errors, rows = asyncio.run(burst(base, issuer, args.burst_users))
        print(f"first-sight burst: {args.burst_users} new users x 4 concurrent requests: {errors} errors, {rows} users")
        sent = 0
        while sent < args.tokens:  # until every distinct token has been verified at least once
            rps, count = wrk_rotating(base, tokens_file, args.seconds, sent)
            sent += count
            print(f"rotating {args.tokens} tokens over {args.users} users: {rps:.0f} req/s ({sent} sent so far)")
        print(
            f"worker RSS after {sent} requests ({min(sent, args.tokens)} distinct tokens): {rss_mb(server.pid):.0f} MB"
        )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
