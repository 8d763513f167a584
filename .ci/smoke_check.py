"""The smoke check ``.ci/smoke.py`` runs inside a venv that has only the wheel installed: one framework's reference
app, served for real, answers ``/me`` and one signed webhook.

Usage: ``VENV/bin/python smoke_check.py NAME`` from a directory outside the checkout. Prints one summary line;
exits non-zero with the server's log on any failure. Uses only what the wheel installs (httpx is a core
dependency; tokens and signatures come from the package's test kit, as an app's tests get them).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

import clerk_sync
from clerk_sync.issuer import TokenIssuer
from clerk_sync.testing import make_user_json, make_webhook_secret, sign_event


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def fail(message: str, log: Path) -> None:
    sys.exit(f"{message}\n--- server log ---\n{log.read_text() if log.exists() else ''}")


def main() -> None:
    framework = sys.argv[1]
    here = Path.cwd()
    package = Path(clerk_sync.__file__).resolve()
    if Path(sys.prefix).resolve() not in package.parents:  # the checkout must not be what is tested
        sys.exit(f"clerk_sync was imported from {package}, not from this venv ({sys.prefix})")
    issuer = TokenIssuer()
    secret = make_webhook_secret()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLERK_") and k != "DATABASE_URL"}
    env |= {
        "DATABASE_URL": f"sqlite+aiosqlite:///{here / 'smoke.db'}",
        "CLERK_JWT_KEY": issuer.public_pem(armor=False),
        "CLERK_WEBHOOK_SIGNING_SECRET": secret,
    }
    cli = Path(sys.executable).with_name("clerk-sync")
    log = here / "serve.log"
    started = time.monotonic()
    with log.open("w") as sink:
        server = subprocess.Popen(  # noqa: S603 (the venv's own clerk-sync)
            [str(cli), "serve", "--framework", framework, "--port", str(port), "--no-access-log"],
            cwd=here,
            env=env,
            stdout=sink,
            stderr=sink,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    fail(f"{framework}: clerk-sync serve exited with {server.returncode}", log)
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    fail(f"{framework}: /readyz was not 200 within 60 s", log)
                time.sleep(0.1)
            ready = time.monotonic() - started

            sub = "user_smoke_1"
            token = issuer.mint(sub, claims={"email": "first@example.com", "first_name": "Ada"})
            me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
            if me.status_code != 200 or me.json().get("email") != "first@example.com":
                fail(f"{framework}: GET /me answered {me.status_code} {me.text}", log)

            user = make_user_json(sub, email="webhook@example.com", updated_at=int(time.time() * 1000) + 1000)
            body, headers = sign_event({"type": "user.updated", "object": "event", "data": user}, secret)
            hook = httpx.post(f"{base}/webhooks/clerk", content=body, headers=headers)
            if hook.status_code != 200 or hook.json().get("status") != "updated":
                fail(f"{framework}: POST /webhooks/clerk answered {hook.status_code} {hook.text}", log)

            # the webhook's email now, and the token's email is not newer than it, so it stays
            after = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {issuer.mint(sub)}"})
            if after.status_code != 200 or after.json().get("email") != "webhook@example.com":
                fail(f"{framework}: GET /me after the webhook answered {after.status_code} {after.text}", log)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    print(
        f"{framework}: clerk-sync {clerk_sync.__version__} from the wheel, ready in {ready:.1f} s; "
        f"/me 200 (id {me.json()['id']}), webhook 200 {hook.json()['status']}, /me shows the webhook's email"
    )


if __name__ == "__main__":
    main()
