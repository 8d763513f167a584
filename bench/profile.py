"""Where a steady-state request spends its time: py-spy samples one uvicorn worker while wrk loads one route.

Run: ``.venv/bin/python -m bench.profile [--framework fastapi|django|flask] [--db sqlite|postgresql] [--path /me]
[--seconds 8] [--top 15]``.
Needs ``wrk`` and ``py-spy`` (dev extra). py-spy samples the worker from outside (``--nonblocking``: the worker
is never paused, so the rates stay close to an unprofiled run) and writes collapsed stacks; this script keeps the
event loop's busy samples (a sample whose innermost frame is the loop itself is idle) and prints the functions
with the most samples of their own ("self") and the request-path frames under which the most samples fall
("inclusive"). The process's entry frames (click, uvicorn's main, the asyncio runner) are left out.

``--framework django|flask`` serves that framework's reference app as ``bench.compare`` does (one gunicorn
gthread worker, ``bench.framework_servers``) and attaches py-spy to the worker process (``record -p``) for the
load's duration; a thread waiting for a request or a lock is idle, not work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import httpx

from bench.http_rps import CLAIMS, bench_database, start_server, wrk
from clerk_sync.db import upgrade
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import JwksServer

#: A sample whose innermost frame is one of these is the loop waiting for I/O, not work.
IDLE = ("Runner.run", "run_forever", "_run_once", "select (selectors.py", "EpollSelector.select", "wait (threading.py")

#: The process's entry frames: under nearly everything that is not a loop callback, so they say nothing.
ENTRY = (
    *("click/", "uvicorn/main.py", "uvicorn/server.py", "uvicorn/_compat.py", "asyncio/runners.py", "<module>"),
    *("threading.py", "concurrent/futures/thread.py", "gunicorn/app/", "gunicorn/workers/base.py", "gunicorn/arbiter"),
)


def profile(kind: str, path: str, seconds: int, rate: int) -> Path:
    """Serve, load and sample; returns the collapsed-stack file py-spy wrote."""
    with bench_database(kind, "profile") as (url, work):
        return sample(kind, url, work, path, seconds, rate)


def sample(kind: str, url: str, work: Path, path: str, seconds: int, rate: int) -> Path:
    issuer = TokenIssuer()
    token = issuer.mint("user_bench", ttl=3600, claims=CLAIMS)
    asyncio.run(upgrade(url))
    stacks = work / "stacks.txt"
    sampler = [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r", str(rate)]
    sampler += ["-f", "raw", "-o", str(stacks), "--"]
    with JwksServer(issuer) as jwks:
        env = {**os.environ, "DATABASE_URL": url, "CLERK_JWKS_URL": jwks.url}
        server, base = start_server("clerk_sync.service:create_app", env, work, wrapper=sampler)
        try:
            first = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
            if first.status_code != 200:
                raise SystemExit(f"{path}: {first.status_code} {first.text}")
            rps, p50, p99 = wrk(f"{base}{path}", token, seconds, 16)
            print(f"{kind} {path}: {rps:.0f} req/s, p50 {p50}, p99 {p99} (while sampled at {rate} Hz)")
        finally:
            server.send_signal(2)  # py-spy writes its file when the profiled process ends
            server.wait(timeout=60)
    return stacks


def profile_wsgi(framework: str, kind: str, path: str, seconds: int, rate: int) -> Path:
    """Serve ``framework``'s reference app as ``bench.compare`` does and sample its gunicorn worker under load."""
    from bench.compare import FRAMEWORK_APPS, ME, bench_env, migrate
    from bench.framework_servers import serve

    with bench_database(kind, "profile") as (url, work):
        issuer = TokenIssuer()
        token = issuer.mint("user_bench", ttl=3600, claims=CLAIMS)
        migrate(framework, url, {**os.environ, "CLERK_SYNC_SERVE_DEV": "0"}, work)
        stacks = work / "stacks.txt"
        with JwksServer(issuer) as jwks:
            app = FRAMEWORK_APPS[framework][ME]
            server, base = serve(framework, app, bench_env(url, issuer, jwks.url), work)
            try:
                first = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
                if first.status_code != 200:
                    raise SystemExit(f"{path}: {first.status_code} {first.text}")
                worker = int(subprocess.check_output(["pgrep", "-P", str(server.pid)], text=True).split()[0])
                sampler = [str(Path(sys.executable).parent / "py-spy"), "record", "--nonblocking", "-r", str(rate)]
                sampler += ["-d", str(seconds), "-f", "raw", "-o", str(stacks), "-p", str(worker)]
                spy = subprocess.Popen(sampler, stdout=subprocess.DEVNULL)
                rps, p50, p99 = wrk(f"{base}{path}", token, seconds, 16)
                spy.wait(timeout=60)
                print(f"{framework} {kind} {path}: {rps:.0f} req/s, p50 {p50}, p99 {p99} (while sampled at {rate} Hz)")
            finally:
                server.terminate()
                server.wait(timeout=60)
        return Path(shutil.copy(stacks, Path(tempfile.gettempdir()) / f"stacks-{framework}-{kind}.txt"))


def report(stacks: Path, top: int) -> None:
    """Print the self and inclusive tables from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    busy = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if frames[-1].startswith(IDLE) or "_find_and_load" in stack or "lifespan" in stack:
            continue  # waiting for I/O, or start-up
        samples = int(count)
        busy += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            under[frame] += samples
    if not busy:
        raise SystemExit("no busy samples (is py-spy allowed to read the worker's memory?)")
    print(f"\n{busy} busy samples\n\nself (the function's own code):")
    for frame, samples in own.most_common(top):
        print(f"  {100 * samples / busy:5.1f}%  {frame}")
    print("\ninclusive (samples under the frame):")
    shown = [(frame, samples) for frame, samples in under.most_common() if not any(e in frame for e in ENTRY)]
    for frame, samples in shown[: top * 2]:
        print(f"  {100 * samples / busy:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", choices=["fastapi", "django", "flask"], default="fastapi")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--path", default="/me")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rate", type=int, default=1000, help="samples per second")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if args.framework == "fastapi":
        stacks = profile(args.db, args.path, args.seconds, args.rate)
    else:
        stacks = profile_wsgi(args.framework, args.db, args.path, args.seconds, args.rate)
    report(stacks, args.top)


if __name__ == "__main__":
    main()
