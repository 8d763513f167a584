"""End to end: ``clerk-sync serve`` refuses a webhook secret that can only fail, before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest

from clerk_sync.issuer import TokenIssuer
from tests.processes import free_port, run_cli


@pytest.mark.parametrize(
    ("secret", "dev"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", False),
        ("whsec_not base64 at all!", True),
        ("whsec_c2hvcnQ=", False),
    ],
    ids=["no-prefix", "not-base64-dev", "too-short"],
)
def test_malformed_webhook_secret_stops_serve_with_one_line(
    tmp_path: Path, clerk_issuer: TokenIssuer, secret: str, dev: bool
) -> None:
    """Exit code 2 and one line naming CLERK_WEBHOOK_SIGNING_SECRET, no traceback, the value not echoed; the
    rest of the configuration is valid, so the secret is what stopped it."""
    env = {"CLERK_WEBHOOK_SIGNING_SECRET": secret}
    if not dev:
        env["CLERK_JWT_KEY"] = clerk_issuer.public_pem(armor=False)
    port = str(free_port())
    result = run_cli("serve", "--port", port, *(["--dev"] if dev else []), cwd=tmp_path, env=env, timeout=30)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "CLERK_WEBHOOK_SIGNING_SECRET" in lines[0]
    assert "Traceback" not in result.stderr
    assert secret.removeprefix("whsec_") not in result.stderr
    assert result.stdout == ""
