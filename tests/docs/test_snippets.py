"""Every code block of the README and the docs site runs as written (handlings: ``tests/docs/snippets.py``).

One runner for every page, instead of one README extractor per framework: apps are built from the block's exact
lines and served; a kit-signed token must get the synced row back. A block with no known handling fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import httpx
import pytest
from flask import Flask

from clerk_sync.claims import SessionClaims
from clerk_sync.db import create_sync_engine_for, upgrade, upgrade_sync
from clerk_sync.flask import state_of
from clerk_sync.issuer import TokenIssuer
from clerk_sync.mapping import DEFAULT_CLAIM_MAP, ClaimMapping
from tests.databases import sqlite_url
from tests.docs.shell import check_block
from tests.docs.snippets import ROOT, Block, blocks_of, documents, handling_of, marker_args
from tests.flask.conftest import json_of
from tests.litestar.live import live_server
from tests.processes import clean_env

ALL = [block for path in documents() for block in blocks_of(path)]
#: Django blocks run as one project per page, so one test item per page holds them all.
SINGLE = [block for block in ALL if handling_of(block) not in ("django", "django-pytest")]
DJANGO_PAGES = sorted({block.path for block in ALL if handling_of(block) == "django"})
DJANGO_TEST_PAGES = sorted({block.path for block in ALL if handling_of(block) == "django-pytest"})
DJANGO_QUICKSTART = ROOT / "docs/quickstart/django.md"

SUB, EMAIL = "user_docs", "docs@example.com"


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def load(block: Block, directory: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the block as a fresh module (registered: frameworks resolve annotations through sys.modules)."""
    name = "snippet_" + hashlib.sha256(block.where.encode()).hexdigest()[:12]
    path = directory / f"{name}.py"
    path.write_text(block.code)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, issuer: TokenIssuer) -> str:
    """What a reader exports before running an example: a key (the kit's) and a database (fresh SQLite)."""
    url = sqlite_url(tmp_path)
    monkeypatch.chdir(tmp_path)
    for name in ("CLERK_PUBLISHABLE_KEY", "CLERK_SECRET_KEY", "CLERK_JWKS_URL", "CLERK_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLERK_JWT_KEY", issuer.public_pem())
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def run_exec(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    environment(monkeypatch, tmp_path, issuer)
    load(block, tmp_path, monkeypatch)


def run_exec_with_request(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    environment(monkeypatch, tmp_path, issuer)
    request = SimpleNamespace(headers={"Authorization": f"Bearer {issuer.mint(SUB)}"}, cookies={})
    namespace: dict[str, Any] = {"__name__": "snippet", "request": request}
    exec(compile(block.code, block.where, "exec"), namespace)  # the page's own lines
    claims = namespace["claims"]
    assert isinstance(claims, SessionClaims)
    assert claims.sub == SUB


def run_asgi_app(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = environment(monkeypatch, tmp_path, issuer)
    legacy = block.marker is not None and "readme-test" in block.marker
    if legacy:  # the README's blocks leave the schema to `clerk-sync db upgrade`
        asyncio.run(upgrade(url))
    module = load(block, tmp_path, monkeypatch)
    token = issuer.mint(SUB, claims={"email": EMAIL})
    with live_server(module.app) as base, httpx.Client(base_url=base) as client:
        signed = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        again = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        anonymous = client.get("/me")
    assert signed.status_code == 200, signed.text
    assert signed.json()["email"] == EMAIL
    assert isinstance(signed.json()["id"], int)
    assert again.json() == signed.json()
    if legacy and marker_args(block) == "starlette":  # its /me lets anonymous requests in
        assert anonymous.json() == {"anonymous": True}
    else:
        assert (anonymous.status_code, anonymous.json()["code"]) == (401, "session-token-missing")


def run_flask_app(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = environment(monkeypatch, tmp_path, issuer)
    if block.marker is not None and "flask-example" in block.marker:  # the README's block: migrated beforehand
        engine = create_sync_engine_for(url)
        upgrade_sync(engine)
        engine.dispose()
    namespace: dict[str, Any] = {"__name__": "snippet_flask_app"}
    exec(compile(block.code, block.where, "exec"), namespace)  # the page's own lines
    app = namespace["app"]
    assert isinstance(app, Flask)
    try:
        client = app.test_client()
        token = issuer.mint(SUB, claims={"email": EMAIL})
        first = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert first.status_code == 200, first.text
        assert json_of(first)["email"] == EMAIL
        assert json_of(client.get("/me", headers={"Authorization": f"Bearer {token}"})) == json_of(first)
        anonymous = client.get("/me")
        assert (anonymous.status_code, anonymous.content_type) == (401, "application/problem+json")
        assert client.get("/readyz").status_code == 503  # no webhook secret configured: not ready, and says so
    finally:
        state_of(app).close()


def run_pytest(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    named = re.match(r"# (test_\w+\.py)\n", block.code)
    target = tmp_path / (named[1] if named else "test_snippet.py")
    target.write_text(block.code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target.name],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout


def run_compile(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    compile(block.code, block.where, "exec")


def run_json(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(json.loads(block.code), dict | list)


def run_clerk_template(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The template names one claim per column plus the version claim, each a Clerk shortcode; a token rendered
    from it (as Clerk would) fills every column of the profile."""
    template = json.loads(block.code)
    mapping = ClaimMapping()
    assert set(template) == {*DEFAULT_CLAIM_MAP.values(), mapping.version_claim}
    for value in template.values():
        assert re.fullmatch(r"\{\{user\.\w+\}\}", value), value
    rendered: dict[str, Any] = {
        "email": EMAIL,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "image_url": "https://img.clerk.com/ada",
        "public_metadata": {"plan": "pro"},
        "updated_at": 1_767_225_600_000,
    }
    profile = mapping.to_profile(SessionClaims.from_payload(issuer.claims(SUB, **rendered)))
    assert set(profile.fields) == set(DEFAULT_CLAIM_MAP)
    assert profile.version == rendered["updated_at"]


def run_node_check(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "snippet.mjs"
    script.write_text(block.code)
    result = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def run_shell(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_block(block.code, block.path.parent, tmp_path)


def run_text(block: Block, tmp_path: Path, issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    assert block.lang == "text"


HANDLERS = {
    "exec": run_exec,
    "exec-with-request": run_exec_with_request,
    "asgi-app": run_asgi_app,
    "flask-app": run_flask_app,
    "pytest": run_pytest,
    "compile": run_compile,
    "json": run_json,
    "clerk-template": run_clerk_template,
    "node-check": run_node_check,
    "shell": run_shell,
    "text": run_text,
}


@pytest.mark.parametrize("block", SINGLE, ids=[block.where for block in SINGLE])
def test_block(block: Block, tmp_path: Path, clerk_issuer: TokenIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The block does what its handling checks (see tests/docs/snippets.py); a block without one fails here."""
    handling = handling_of(block)
    handler = HANDLERS.get(handling)
    if handler is None:
        pytest.fail(f"{block.where}: a ```{block.lang} block with no known handling (see tests/docs/snippets.py)")
    handler(block, tmp_path, clerk_issuer, monkeypatch)


# --- Django: a fresh `django-admin startproject` per page ----------------------------------------------------------

CHILD = """
import json, os
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
token = os.environ["SNIPPET_TOKEN"]
signed = client.get("/me", headers={"Authorization": f"Bearer {token}"})
again = client.get("/me", headers={"Authorization": f"Bearer {token}"})
anonymous = client.get("/me")
health = client.get("/healthz")
print(json.dumps({
    "signed": [signed.status_code, signed.json()],
    "again": again.json(),
    "anonymous": [anonymous.status_code, anonymous["Content-Type"], anonymous.get("WWW-Authenticate")],
    "healthz": health.json(),
}))
"""


def django_project(path: Path, directory: Path, issuer: TokenIssuer) -> tuple[dict[str, str], set[str]]:
    """``startproject`` in ``directory`` with the page's ``# django: FILE`` blocks appended, migrated; returns
    the environment to run it with and the files the page edits."""
    admin = Path(sys.executable).parent / "django-admin"
    subprocess.run([str(admin), "startproject", "mysite", str(directory)], check=True, timeout=60)
    edited = set()
    for block in blocks_of(path):
        if handling_of(block) != "django":
            continue
        assert block.django_file is not None
        target = directory / "mysite" / block.django_file
        target.write_text((target.read_text() if target.exists() else "") + "\n" + block.code)
        edited.add(block.django_file)
    env = clean_env({"CLERK_JWT_KEY": issuer.public_pem(armor=False), "DJANGO_SETTINGS_MODULE": "mysite.settings"})
    migrated = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    return env, edited


@pytest.mark.parametrize("path", DJANGO_PAGES, ids=[_id(path) for path in DJANGO_PAGES])
def test_django_page(path: Path, tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """A fresh project with the page's lines checks and migrates; when the page mounts its urls, ``/me`` answers
    the synced user for a signed token (the same id twice), 401 problem+json with a Bearer challenge without one,
    and ``/healthz`` is mounted."""
    env, edited = django_project(path, tmp_path, clerk_issuer)
    assert "settings.py" in edited
    if "urls.py" not in edited:
        return
    assert "views.py" in edited
    env["SNIPPET_TOKEN"] = clerk_issuer.mint(SUB, claims={"email": EMAIL})
    child = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    status, body = result["signed"]
    assert status == 200, body
    assert (body["clerk_id"], body["email"]) == (SUB, EMAIL)
    assert result["again"] == body
    assert result["anonymous"] == [401, "application/problem+json", 'Bearer realm="clerk-sync"']
    assert result["healthz"] == {"status": "ok"}


@pytest.mark.parametrize("path", DJANGO_TEST_PAGES, ids=[_id(path) for path in DJANGO_TEST_PAGES])
def test_django_pytest_page(path: Path, tmp_path: Path, clerk_issuer: TokenIssuer) -> None:
    """The page's ``conftest.py`` and test files, in the Django quick start's project, pass under pytest-django."""
    env, _ = django_project(DJANGO_QUICKSTART, tmp_path, clerk_issuer)
    del env["CLERK_JWT_KEY"]  # the test kit's fixture is what makes the project trust a key
    for block in blocks_of(path):
        if handling_of(block) != "django-pytest":
            continue
        named = re.match(r"# (\w+\.py)\n", block.code)
        assert named is not None, f"{block.where}: a django-pytest block starts with `# FILE.py`"
        (tmp_path / named[1]).write_text(block.code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--ds=mysite.settings"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b\d+ passed\b", result.stdout), result.stdout


# --- the runner itself ----------------------------------------------------------------------------------------------


def test_every_block_has_a_known_handling() -> None:
    """No block of any page is left without a handling (one list, so a new page's gaps show at once)."""
    unknown = [block.where for block in ALL if handling_of(block) not in {*HANDLERS, "django", "django-pytest"}]
    assert unknown == []


def test_unknown_blocks_are_refused() -> None:
    """A language without a default, an unknown marker and a ``compile`` marker without a reason are ``unknown``
    (so the test above can fail), while the defaults and markers are recognised."""
    page = (
        "```ruby\nputs 1\n```\n\n<!-- snippet: bogus -->\n```python\nx = 1\n```\n\n"
        "<!-- snippet: compile -->\n```python\nx = 1\n```\n\n<!-- snippet: compile (not installed) -->\n"
        "```python\nimport missing\n```\n\n```python\n# django: settings.py\nX = 1\n```\n\n```sh\nmake test\n```\n"
    )
    found = [handling_of(block) for block in blocks_of(ROOT / "page.md", page)]
    assert found == ["unknown", "unknown", "unknown", "compile", "django", "shell"]


def test_the_readme_keeps_its_framework_examples() -> None:
    """The README's framework sections still carry their tested apps (a lost marker would silently turn an
    app test into a plain ``exec``)."""
    readme = [block for block in ALL if block.path == ROOT / "README.md"]
    apps = {marker_args(block) for block in readme if handling_of(block) == "asgi-app"}
    assert apps == {"litestar", "starlette"}
    assert [handling_of(block) for block in readme].count("flask-app") == 1
    assert {block.django_file for block in readme if block.django_file} == {"settings.py", "views.py", "urls.py"}
