"""Steady-state throughput of the reference service: `/me` (verify + user sync) vs `/me/claims` (verify only).

Run: ``.venv/bin/python -m bench.http_rps [--db sqlite|postgresql|both] [--seconds 10] [--connections 16]``.
Needs ``wrk`` (Debian package). One uvicorn worker, access log off, the same token for every request (steady
state: the user exists and its claims do not change). On PostgreSQL it also reads the table statistics to
report index scans (reads) and row writes per `/me` request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from clerk_sync.issuer import TokenIssuer

ADMIN = os.environ.get("CLERK_SYNC_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
CLAIMS = {"email": "bench@example.com", "first_name": "Bench", "last_name": "Mark", "public_metadata": {"plan": "pro"}}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wrk(url: str, token: str, seconds: int, connections: int) -> tuple[float, str, str]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx responses from {url}:\n{out}")
    return rps, p50, p99


@contextmanager
def bench_database(kind: str, label: str) -> Iterator[tuple[str, Path]]:
    """A throwaway database of ``kind`` (an SQLite file, or a new PostgreSQL database) and a work folder for it;
    the PostgreSQL database is dropped afterwards, open connections and all."""
    work = Path(tempfile.mkdtemp(prefix=f"clerk-sync-{label}-"))
    name = f"clerk_sync_{label}_{uuid.uuid4().hex[:8]}"
    if kind == "postgresql":
        pg_admin(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite+aiosqlite:///{work}/{label}.db"
    try:
        yield url, work
    finally:
        if kind == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_stats(dsn: str) -> tuple[int, int]:
    return asyncio.run(_pg_stats(dsn))


def pg_admin(sql: str) -> None:
    async def go() -> None:
        connection = await asyncpg.connect(ADMIN)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(go())


async def _pg_stats(dsn: str) -> tuple[int, int]:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_stat_force_next_flush()")
        row = await connection.fetchrow(
            "SELECT coalesce(idx_scan,0) AS reads, n_tup_ins + n_tup_upd + n_tup_del AS writes "
            "FROM pg_stat_user_tables WHERE relname = 'users'"
        )
        return int(row["reads"]), int(row["writes"])
    finally:
        await connection.close()


def wait_healthy(process: subprocess.Popen[bytes], port: int, what: str) -> str:
    """The server's base URL once ``/healthz`` answers 200; the process is killed if it does not within 30 s."""
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return base
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{what} did not start")


def start_server(
    factory: str, env: dict[str, str], cwd: Path, *, wrapper: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """One uvicorn worker (access log off) serving ``factory``; returns once ``/healthz`` answers.

    ``wrapper`` runs uvicorn under another command (``bench.profile``: ``py-spy record ... --``).
    """
    port = free_port()
    process = subprocess.Popen(
        [
            *wrapper,
            str(Path(sys.executable).parent / "uvicorn"),
            "--factory",
            factory,
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=cwd,
    )
    return process, wait_healthy(process, port, factory)


def run(kind: str, seconds: int, connections: int) -> None:
    with bench_database(kind, "bench") as (url, work):
        measure(kind, url, work, seconds, connections)


def measure(kind: str, url: str, work: Path, seconds: int, connections: int) -> None:
    issuer = TokenIssuer()
    token = issuer.mint("user_bench", ttl=3600, claims=CLAIMS)
    env = {**os.environ, "DATABASE_URL": url, "CLERK_JWT_KEY": issuer.public_pem(armor=False)}
    bin_dir = Path(sys.executable).parent
    if kind == "postgresql":
        subprocess.run([str(bin_dir / "clerk-sync"), "db", "upgrade"], env=env, check=True, cwd=work)
    server, base = start_server("clerk_sync.service:create_app", env, work)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/me", headers=headers).status_code == 200
        results: dict[str, list[tuple[float, str, str]]] = {"/me/claims": [], "/me": []}
        wrk(f"{base}/me", token, 2, connections)  # warm-up
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        before = pg_stats(dsn) if kind == "postgresql" else None
        me_requests = 0.0
        for _ in range(2):  # alternate to spread any drift over both routes
            for path in results:
                result = wrk(f"{base}{path}", token, seconds, connections)
                results[path].append(result)
                if path == "/me":
                    me_requests += result[0] * seconds
        print(f"\n== {kind}: one uvicorn worker, wrk -t1 -c{connections} -d{seconds}s, 2 alternating rounds each")
        print(f"{'route':12s} {'req/s':>9s} {'p50':>9s} {'p99':>9s}")
        best = {}
        for path, runs in results.items():
            rps = max(r[0] for r in runs)
            best[path] = rps
            top = max(runs)
            print(f"{path:12s} {rps:9.0f} {top[1]:>9s} {top[2]:>9s}")
        print(f"/me vs /me/claims: {best['/me'] / best['/me/claims']:.2f}x")
        if before is not None:
            after = pg_stats(dsn)
            reads, writes = (after[0] - before[0]) / me_requests, (after[1] - before[1]) / me_requests
            print(f"per /me request (from pg_stat_user_tables): {reads:.2f} index reads, {writes:.3f} row writes")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        run(kind, args.seconds, args.connections)


if __name__ == "__main__":
    main()
