"""End to end: the real ``clerk-sync`` command in a fresh working directory, as a newcomer runs it."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path

import httpx
import jwt
import pytest

from clerk_sync.issuer import TokenIssuer
from tests.processes import CLI, clean_env, free_port, run_cli, service, wait_for

#: The profile claims a session token may carry (Clerk's template; ``clerk_sync.mapping.PROFILE_COLUMNS``).
PROFILE_CLAIMS = {"email", "first_name", "last_name", "image_url", "public_metadata"}


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
    """`serve --dev` trusts tokens from `dev-token` run in another folder (the key is per user, in the cache
    directory, not in the working directory), and prints a working curl line."""
    served, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    served.mkdir()
    elsewhere.mkdir()
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with service(served, "--dev", env=env) as (base, process):
        token = run_cli(
            "dev-token", "--sub", "user_cli", "--email", "cli@example.com", cwd=elsewhere, env=env
        ).stdout.strip()
        response = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json()["clerk_id"] == "user_cli"
        printed = read_until(process, "curl")
        match = re.search(r"curl -H 'Authorization: Bearer ([\w.-]+)' (http://\S+)", printed)
        assert match, printed
        shown = httpx.get(match.group(2), headers={"Authorization": f"Bearer {match.group(1)}"})
        assert shown.status_code == 200
        assert shown.json()["clerk_id"] == "user_dev_1"
    assert (tmp_path / "cache" / "clerk-sync" / "dev-signing-key.pem").stat().st_mode & 0o077 == 0
    assert not (served / ".clerk-sync").exists()
    assert not (elsewhere / ".clerk-sync").exists()


def test_dev_token_with_only_sub_invents_no_profile(tmp_path: Path) -> None:
    """`dev-token --sub` alone mints a token with no email or name claims, so `/me` shows nulls rather than
    made-up data; the claims that are given are the only ones in the token."""
    env = {"CLERK_SYNC_DEV_DIR": str(tmp_path / "key")}
    bare = run_cli("dev-token", "--sub", "user_bare", cwd=tmp_path, env=env).stdout.strip()
    named = run_cli("dev-token", "--sub", "user_named", "--first-name", "Ada", cwd=tmp_path, env=env).stdout.strip()
    assert set(jwt.decode(bare, options={"verify_signature": False})) & PROFILE_CLAIMS == set()
    named_claims = jwt.decode(named, options={"verify_signature": False})
    assert (set(named_claims) & PROFILE_CLAIMS, named_claims["first_name"]) == ({"first_name"}, "Ada")
    with service(tmp_path, "--dev", env=env) as (base, _):
        me = httpx.get(f"{base}/me", headers={"Authorization": f"Bearer {bare}"})
    assert me.status_code == 200, me.text
    assert (me.json()["clerk_id"], me.json()["email"], me.json()["first_name"]) == ("user_bare", None, None)


def test_dev_on_ipv6_loopback_prints_a_url_that_works(tmp_path: Path) -> None:
    """`serve --dev --host ::1` prints `http://[::1]:PORT/me` (brackets: a bare `::1:PORT` is no URL), and
    the printed curl line answers 200."""
    port = free_port()
    env = clean_env({"CLERK_SYNC_DEV_DIR": str(tmp_path / "key")})
    command = [CLI, "serve", "--dev", "--host", "::1", "--port", str(port)]
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            printed = read_until(process, "curl", timeout=30)
            match = re.search(r"curl -H 'Authorization: Bearer ([\w.-]+)' (http://\S+)", printed)
            assert match, printed
            assert match.group(2) == f"http://[::1]:{port}/me"

            def answers() -> bool:
                try:
                    return (
                        httpx.get(match.group(2), headers={"Authorization": f"Bearer {match.group(1)}"}).status_code
                        == 200
                    )
                except httpx.HTTPError:
                    return False

            wait_for(answers, timeout=30, failure=lambda: f"{match.group(2)} did not answer 200")
        finally:
            process.terminate()
            process.wait(timeout=10)


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
