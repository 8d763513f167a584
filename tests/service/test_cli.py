"""End to end: the real ``clerk-sync`` command in a fresh working directory, as a newcomer runs it."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from clerk_sync.issuer import TokenIssuer
from tests.processes import run_cli, service


def read_until(process: subprocess.Popen[str], needle: str, timeout: float = 10) -> str:
    """Collect the service's stdout until a line contains ``needle`` (a thread, so a silent process cannot hang us)."""
    assert process.stdout is not None
    stream = process.stdout
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        for line in stream:
            lines.append(line)
            if needle in line:
                found.set()
                return

    threading.Thread(target=pump, daemon=True).start()
    found.wait(timeout)
    return "".join(lines)


def test_dev_token_and_serve_dev(tmp_path: Path) -> None:
    """`serve --dev` trusts tokens from `dev-token` run in the same folder, and prints a working curl line."""
    with service(tmp_path, "--dev") as (base, process):
        token = run_cli("dev-token", "--sub", "user_cli", "--email", "cli@example.com", cwd=tmp_path).stdout.strip()
        response = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json()["clerk_id"] == "user_cli"
        printed = read_until(process, "curl")
        match = re.search(r"curl -H 'Authorization: Bearer ([\w.-]+)' (http://\S+)", printed)
        assert match, printed
        shown = httpx.get(match.group(2), headers={"Authorization": f"Bearer {match.group(1)}"})
        assert shown.status_code == 200
        assert shown.json()["clerk_id"] == "user_dev_1"
    assert (tmp_path / ".clerk-sync" / "dev-signing-key.pem").stat().st_mode & 0o077 == 0


def test_dev_tokens_are_not_trusted_without_dev(tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """A service configured for a real Clerk key refuses development tokens."""
    token = run_cli("dev-token", cwd=tmp_path).stdout.strip()
    with service(tmp_path, env={"CLERK_JWT_KEY": clerk_issuer.public_pem(armor=False)}) as (base, _):
        refused = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        accepted = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {clerk_issuer.mint('user_real')}"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "token-invalid-signature"
    assert accepted.status_code == 200


def test_dev_refuses_non_loopback_host(tmp_path: Path) -> None:
    """--dev on 0.0.0.0 stops with one clear line and exit code 2."""
    result = run_cli("serve", "--dev", "--host", "0.0.0.0", cwd=tmp_path)
    assert result.returncode == 2
    assert "--dev refuses to listen on 0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "CLERK_JWT_KEY"),
        ({"CLERK_JWT_KEY": "garbage"}, "CLERK_JWT_KEY"),
        ({"CLERK_SECRET_KEY": "nope"}, "CLERK_SECRET_KEY"),
        ({"CLERK_PUBLISHABLE_KEY": "pk_test_!!"}, "CLERK_PUBLISHABLE_KEY"),
    ],
)
def test_unusable_configuration_stops_with_one_line(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    """A configuration that cannot work names the variable and exits 2, without a traceback."""
    result = run_cli("serve", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert variable in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2
