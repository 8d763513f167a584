"""End to end in a real browser: ``clerk-sync serve --dev``, its demo page, headless Chromium.

The page signs in, calls ``/me`` through the JS client, swaps in an expired token and calls again; the client
must answer the 401 ``token-expired`` with one refresh and one retry. Chromium is Debian's package (installed by
``.ci/run``); nothing is downloaded. Without it the test skips locally and fails under ``CI=true``.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.processes import service

REPO = Path(__file__).resolve().parents[2]
SUB = "user_e2e"
EMAIL = "e2e@example.com"
# Virtual time: Chromium runs the page's timers fast-forwarded but waits for network, so the budget bounds
# the page's own work, not the wall-clock time of its requests.
BUDGET_MS = 15_000


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium; a missing browser fails in CI rather than passing silently."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires the browser test")
        pytest.skip(reason)
    return found


def headless(chromium: str, profile: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """One headless run with a throwaway profile and no background traffic (the machine has no internet)."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={BUDGET_MS}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def text_of(dom: str, element_id: str) -> str:
    """The text of a leaf element the page filled with ``textContent`` (so it holds no markup)."""
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', dom)
    assert match, f"#{element_id} not in the page:\n{dom}"
    return html.unescape(match.group(1))


def log_lines(dom: str) -> list[str]:
    match = re.search(r'<ol id="log"[^>]*>(.*?)</ol>', dom, re.DOTALL)
    assert match, dom
    return [html.unescape(item) for item in re.findall(r"<li[^>]*>([^<]*)</li>", match.group(1))]


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("CLERK_SYNC_ARTIFACTS") or REPO / "bench" / "results")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_page_refreshes_and_retries_after_forced_401(tmp_path: Path, chromium: str) -> None:
    """After an expired token the page still shows the synced user, with exactly one refresh behind it."""
    query = urlencode({"auto": "1", "sub": SUB, "email": EMAIL, "first_name": "Eve", "last_name": "Example"})
    with service(tmp_path, "--dev") as (base, _):
        url = f"{base}/?{query}"
        run = headless(chromium, tmp_path / "profile-dom", "--dump-dom", url)
        shot = artifacts_dir() / "demo-page.png"
        shot.unlink(missing_ok=True)
        picture = headless(
            chromium,
            tmp_path / "profile-shot",
            "--hide-scrollbars",
            "--window-size=1000,800",
            f"--screenshot={shot}",
            url,
        )
    dom = run.stdout
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'data-state="done"' in dom, f"the page did not finish:\n{dom}"
    assert text_of(dom, "user-clerk-id") == SUB
    assert text_of(dom, "user-email") == EMAIL
    assert text_of(dom, "user-first-name") == "Eve"
    assert text_of(dom, "refresh-count") == "1"
    calls = [line for line in log_lines(dom) if line.startswith("GET /me")]
    assert calls == ["GET /me -> 200", "GET /me -> 401 token-expired, refreshed, retried -> 200"]

    assert picture.returncode == 0, picture.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG"), shot
    print(f"screenshot: {shot}")
