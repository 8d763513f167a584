"""The notes page: its script parses (``node --check``), and in headless Chromium it lists the signed-in user's notes
from the FastAPI example through the JS client, and shows clerk-sync's code when the token is refused.

Chromium is Debian's package (``.ci/run`` installs it); without it the browser test skips locally and fails
under ``CI=true``, like tests/service/test_demo_browser.py, whose headless flags this follows.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.staticfiles import StaticFiles
from fastapi_notes.app import create_app
from fastapi_notes.test_app import serve

from clerk_sync.testing import TokenIssuer, make_webhook_secret

PAGE = Path(__file__).resolve().parent
CLIENT = PAGE.parents[1] / "clients" / "js" / "src"


def test_the_page_script_parses() -> None:
    """``node --check`` accepts notes.js as an ES module."""
    node = shutil.which("node")
    assert node is not None, "node is required (the JS client's own tests need it too)"
    checked = subprocess.run([node, "--check", str(PAGE / "notes.js")], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium; a missing browser fails in CI rather than passing silently."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI=true requires the browser test")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


@pytest.fixture
def site(clerk_issuer: TokenIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The FastAPI notes API with the page (and the JS client as vendor/) served from the same origin."""
    monkeypatch.setenv("CLERK_JWT_KEY", clerk_issuer.public_pem())
    monkeypatch.setenv("CLERK_WEBHOOK_SIGNING_SECRET", make_webhook_secret())
    app = create_app(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}")
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    shutil.copy(CLIENT / "index.js", vendor / "clerk-sync-client.js")  # what the README tells a user to do
    app.mount("/vendor", StaticFiles(directory=vendor))
    app.mount("/", StaticFiles(directory=PAGE, html=True))
    with serve(app) as base_url:
        yield base_url


def dump_dom(chromium: str, profile: Path, url: str) -> str:
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=15000",
        "--dump-dom",
        url,
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def state_and_status(dom: str) -> tuple[str, str]:
    state = re.search(r'id="app" data-state="(\w+)"', dom)
    status = re.search(r'id="status"[^>]*>([^<]*)<', dom)
    assert state, dom
    assert status, dom
    return state.group(1), html.unescape(status.group(1))


def test_the_page_lists_only_the_signed_in_users_notes(
    chromium: str, site: str, clerk_issuer: TokenIssuer, fresh_clerk_issuer: TokenIssuer, tmp_path: Path
) -> None:
    """Ada's page shows her two notes (not Bob's); a token the API does not trust shows 401 and its code."""
    ada, bob = clerk_issuer.mint("user_ada"), clerk_issuer.mint("user_bob")
    with httpx.Client(base_url=site) as client:
        for token, title in ((ada, "milk"), (ada, "eggs <b>"), (bob, "bob's")):
            created = client.post("/notes", json={"title": title}, headers={"Authorization": f"Bearer {token}"})
            assert created.status_code == 201, created.text

    dom = dump_dom(chromium, tmp_path / "profile-ada", f"{site}/index.html#token={ada}")
    assert state_and_status(dom) == ("ready", "2 note(s)"), dom
    titles = [html.unescape(t) for t in re.findall(r"<li[^>]*><strong>([^<]*)</strong>", dom)]
    assert titles == ["milk", "eggs <b>"]  # rendered as text, not markup

    forged = fresh_clerk_issuer.mint("user_ada")
    dom = dump_dom(chromium, tmp_path / "profile-forged", f"{site}/index.html#token={forged}")
    assert state_and_status(dom) == ("error", "401 token-invalid-signature"), dom
