"""Schemathesis against the real reference service: no bad input reaches a 500, and every answer is the one
the OpenAPI document gives (status, content type, headers, body schema).

``clerk-sync serve --dev`` runs on a free loopback port with an SQLite file in a temporary directory and a
webhook signing secret (a production-shaped configuration: without one the webhook route answers 503 by design,
which ``not_a_server_error`` would rightly count). ``st run --checks all`` runs twice, without a token and with a
development token, with a bounded number of examples per operation and a fixed seed, so a red run replays.

The only configuration (``schemathesis.toml`` beside this file) states that a schema-valid but unsigned webhook
delivery is refused with 400: no JSON schema can express an HMAC. No check is excluded. Every request must go to
127.0.0.1: the proxy variables point at a closed port and exempt only loopback, so any other address fails the run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from clerk_sync.testing import make_webhook_secret
from tests.processes import clean_env, run_cli, service

ST = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 40
SEED = 20261201
#: A closed port: a request that is not exempted by NO_PROXY fails instead of leaving the machine.
NOWHERE = "http://127.0.0.1:9"
#: What schemathesis warns about when every answer of an operation was 401/403.
AUTH_FAILED = "Authentication failed"


def run_schemathesis(base: str, report: Path, *headers: str) -> subprocess.CompletedProcess[str]:
    command = [ST, "--config-file", str(CONFIG), "run", f"{base}/openapi.json", "--checks", "all"]
    command += ["--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1", "--no-color"]
    command += ["--report", "junit", "--report-junit-path", str(report)]
    for header in headers:
        command += ["-H", header]
    env = clean_env(
        {
            "HTTP_PROXY": NOWHERE,
            "HTTPS_PROXY": NOWHERE,
            "ALL_PROXY": NOWHERE,
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return subprocess.run(command, cwd=report.parent, env=env, capture_output=True, text=True, timeout=120, check=False)


def junit_counts(report: Path) -> dict[str, int]:
    suites = ElementTree.parse(report).getroot().iter("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in suites:
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    return totals


def test_schemathesis_finds_nothing(tmp_path: Path) -> None:
    """Both runs exit 0 with zero failures and zero errors over every operation; the token run really reached
    the authenticated routes (no "only 401" warning), the anonymous one really did not."""
    env = {"CLERK_WEBHOOK_SIGNING_SECRET": make_webhook_secret()}
    with service(tmp_path, "--dev", env=env) as (base, _):
        token = run_cli("dev-token", "--ttl", "600", cwd=tmp_path).stdout.strip()
        assert token.count(".") == 2
        anonymous = run_schemathesis(base, tmp_path / "anonymous.xml")
        signed_in = run_schemathesis(base, tmp_path / "signed-in.xml", f"Authorization: Bearer {token}")
    for name, result in (("anonymous", anonymous), ("signed-in", signed_in)):
        assert result.returncode == 0, f"{name} run:\n{result.stdout}\n{result.stderr}"
        counts = junit_counts(tmp_path / f"{name}.xml")
        assert counts["tests"] >= 6, counts  # every operation of the service was tested
        assert counts["failures"] == counts["errors"] == 0, result.stdout
    assert AUTH_FAILED in anonymous.stdout
    assert AUTH_FAILED not in signed_in.stdout
