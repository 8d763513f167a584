"""Two checkouts of clerk-sync side by side in one run: did a change keep ``/me``'s speed?

Run: ``.venv/bin/python -m bench.ab --baseline /path/to/old/checkout [--db both] [--seconds 6] [--rounds 3]``. The
baseline checkout needs its own ``.venv`` (``make test`` there once). Each side serves its reference service on
one uvicorn worker (access log off) from its own virtual environment, on the same database, token and JWKS;
rounds alternate between the two so machine noise falls on both. Prints requests/s and the ratio new / old.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
from pathlib import Path

import httpx

from bench.http_rps import bench_database, free_port, wait_healthy, wrk
from clerk_sync.db import upgrade
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import JwksServer

CLAIMS = {"email": "bench@example.com", "first_name": "Bench", "last_name": "Mark"}
HERE = Path(__file__).resolve().parents[1]


def _serve(checkout: Path, env: dict[str, str], work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [str(checkout / ".venv" / "bin" / "uvicorn"), "--factory", "clerk_sync.service:create_app"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    process = subprocess.Popen(command, env={**env, "PYTHONPATH": str(checkout / "src")}, cwd=work)
    return process, wait_healthy(process, port, str(checkout))


def measure(kind: str, baseline: Path, seconds: int, rounds: int, connections: int) -> None:
    with bench_database(kind, "ab") as (url, work):
        asyncio.run(upgrade(url))
        issuer = TokenIssuer()
        token = issuer.mint("user_bench", ttl=3600, claims=CLAIMS)
        with JwksServer(issuer) as jwks:
            env = {**os.environ, "DATABASE_URL": url, "CLERK_JWKS_URL": jwks.url}
            sides = {"old": baseline, "new": HERE}
            servers = {name: _serve(path, env, work) for name, path in sides.items()}
            try:
                for _, base in servers.values():
                    assert httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
                    wrk(f"{base}/me", token, 2, connections)
                runs: dict[str, list[float]] = {name: [] for name in sides}
                for _ in range(rounds):
                    for name, (_, base) in servers.items():
                        runs[name].append(wrk(f"{base}/me", token, seconds, connections)[0])
            finally:
                for process, _ in servers.values():
                    process.terminate()
                    process.wait()
    old, new = max(runs["old"]), max(runs["new"])
    print(f"{kind}: /me old {old:.0f} req/s, new {new:.0f} req/s, new/old {new / old:.2f}x (best of {rounds})")
    print(f"  rounds old {[round(r) for r in runs['old']]}, new {[round(r) for r in runs['new']]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        measure(kind, args.baseline.resolve(), args.seconds, args.rounds, args.connections)


if __name__ == "__main__":
    main()
